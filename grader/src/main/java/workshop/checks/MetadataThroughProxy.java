package workshop.checks;

import java.nio.ByteBuffer;
import java.util.function.ToIntFunction;

import org.apache.kafka.common.message.MetadataResponseData.MetadataResponseBroker;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.MetadataResponse;
import org.apache.kafka.common.requests.RequestUtils;
import org.apache.kafka.common.requests.ResponseHeader;

/** For the checkers' protocol proxies: a client that reads this metadata answer reaches every broker through the proxy. */
final class MetadataThroughProxy {

    private MetadataThroughProxy() {
    }

    /**
     * The metadata answer {@code frame} (header included, size prefix not) of the given version,
     * with each broker's address replaced by 127.0.0.1 and the port {@code proxyPort} gives it.
     */
    static byte[] rewrite(byte[] frame, short version, ToIntFunction<MetadataResponseBroker> proxyPort) {
        ByteBuffer buffer = ByteBuffer.wrap(frame);
        short headerVersion = ApiKeys.METADATA.responseHeaderVersion(version);
        ResponseHeader header = ResponseHeader.parse(buffer, headerVersion);
        MetadataResponse response = (MetadataResponse) AbstractResponse.parseResponse(ApiKeys.METADATA, new ByteBufferAccessor(buffer), version);
        response.data().brokers().forEach(b -> b.setPort(proxyPort.applyAsInt(b)).setHost("127.0.0.1"));
        ByteBuffer rewritten = RequestUtils.serialize(header.data(), headerVersion, response.data(), version);
        byte[] bytes = new byte[rewritten.remaining()];
        rewritten.get(bytes);
        return bytes;
    }
}
