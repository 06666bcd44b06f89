@testable import StatusAPI
import Testing

/// `/metrics` of a node in a multi-node setup carries `node="…"` on every sample.
@Suite struct PrometheusTextTests {
    private func labeled(_ text: String, _ node: String = "node-a") -> String {
        String(decoding: PrometheusText.addingLabel("node", node, to: Array(text.utf8)), as: UTF8.self)
    }

    @Test func everySampleGetsTheLabelFirstAndCommentsStayAsTheyAre() {
        let text = """
            # HELP inboxd_jobs Jobs by status
            # TYPE inboxd_jobs gauge
            inboxd_jobs{status="ready"} 3.0
            inboxd_queue_depth 0.0
            inboxd_phase_duration_seconds_bucket{phase="converting",le="0.5"} 1

            inboxd_http_requests_total{method="GET",route="/healthz",code="200"} 12

            """
        #expect(labeled(text) == """
            # HELP inboxd_jobs Jobs by status
            # TYPE inboxd_jobs gauge
            inboxd_jobs{node="node-a",status="ready"} 3.0
            inboxd_queue_depth{node="node-a"} 0.0
            inboxd_phase_duration_seconds_bucket{node="node-a",phase="converting",le="0.5"} 1

            inboxd_http_requests_total{node="node-a",method="GET",route="/healthz",code="200"} 12

            """)
    }

    @Test func aValueWithQuotesOrBackslashesIsEscaped() {
        #expect(labeled("up 1\n", "a\"b\\c") == "up{node=\"a\\\"b\\\\c\"} 1\n")
    }

    @Test func aLastLineWithoutNewlineIsLabelledToo() {
        #expect(labeled("up 1") == "up{node=\"node-a\"} 1")
    }
}
