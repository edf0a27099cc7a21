///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//DEPS org.apache.kafka:kafka_2.13:4.3.1
//DEPS org.junit.jupiter:junit-jupiter:5.14.4
//DEPS org.junit.platform:junit-platform-launcher:1.14.4
//DEPS org.assertj:assertj-core:3.27.7
//DEPS org.awaitility:awaitility:4.3.0
//DEPS info.picocli:picocli:4.7.7
//DEPS com.fasterxml.jackson.dataformat:jackson-dataformat-yaml:2.21.2
//DEPS org.testcontainers:testcontainers-kafka:2.0.5
//DEPS io.github.java-diff-utils:java-diff-utils:4.16
//SOURCES ../support/workshop/*.java
//SOURCES ../grader/src/main/java/workshop/grader/*.java
//SOURCES ../grader/src/main/java/workshop/check/*.java
//SOURCES ../grader/src/main/java/workshop/checks/*.java
//SOURCES ../grader/src/main/java/workshop/room/*.java
//MAIN workshop.grader.FlakeBench

// ./jbang flakes [NN ...] [--runs N] [--load] [--no-fixtures]
// Grades every solution, starter and fixture N times, optionally under load, and counts flakes.
class flakes {
}
