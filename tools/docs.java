///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.asciidoctor:asciidoctorj:3.0.1
//DEPS org.asciidoctor:asciidoctorj-revealjs:5.1.0
//DEPS org.apache.commons:commons-compress:1.28.0
//DEPS info.picocli:picocli:4.7.7
//SOURCES ../grader/src/main/java/workshop/docs/*.java

// Renders the workshop docs to HTML that works offline (reveal.js from a local copy, never a CDN):
//   ./jbang tools/docs.java guide      README.adoc + chapters -> build/docs/index.html
//   ./jbang tools/docs.java slides     slides/slides.adoc     -> build/docs/slides/index.html
//   ./jbang tools/docs.java all        both
//   ./jbang tools/docs.java prefetch   only cache reveal.js (~/.cache/kafka-workshop/)
// Exit status: 0 done, 1 the docs have problems (listed), 2 cannot render.

class docs {
    public static void main(String[] args) {
        workshop.docs.Docs.main(args);
    }
}
