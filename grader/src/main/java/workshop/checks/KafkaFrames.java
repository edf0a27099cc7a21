package workshop.checks;

import java.io.DataInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.function.ToIntFunction;

import org.apache.kafka.common.message.MetadataResponseData.MetadataResponseBroker;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.MetadataResponse;
import org.apache.kafka.common.requests.RequestUtils;
import org.apache.kafka.common.requests.ResponseHeader;

/** Kafka's wire frames, for the checkers' protocol proxies. */
final class KafkaFrames {

    private KafkaFrames() {
    }

    /** The next request or answer on a connection: its size, then that many bytes (header included). */
    static byte[] read(DataInputStream in) throws IOException {
        byte[] frame = new byte[in.readInt()];
        in.readFully(frame);
        return frame;
    }

    /**
     * The metadata answer {@code frame} (header included, size prefix not) of the given version,
     * with each broker's address replaced by 127.0.0.1 and the port {@code proxyPort} gives it: a
     * client that reads it reaches every broker through the proxy.
     */
    static byte[] metadataThroughProxy(byte[] frame, short version, ToIntFunction<MetadataResponseBroker> proxyPort) {
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
