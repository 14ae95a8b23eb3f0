package com.github.verifyproxy.e2e

import java.nio.file.Files
import java.nio.file.Path
import java.time.Duration
import java.time.Instant
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive

/**
 * A server under test, started by e2e/run.sh (`make e2e`): its base URL and the file its log goes to.
 * Missing variables fail the test with a message, never skip it: a skipped end-to-end test proves nothing.
 */
class RunningServer(val baseUrl: String, val log: ServerLog) {
    companion object {
        /** The Verify v1 sandbox, which most tests drive. */
        fun fromEnvironment(): RunningServer = fromEnvironment("VERIFY_PROXY")

        /** The Verify v2 sandbox that verifies by silent authentication first; its check_url answers JSON. */
        fun silentAuth(): RunningServer = fromEnvironment("VERIFY_PROXY_SILENT")

        /** The same with a redirect URL, the app's page in `VERIFY_PROXY_SILENT_APP_PAGE`: its check_url redirects there. */
        fun silentAuthRedirecting(): RunningServer = fromEnvironment("VERIFY_PROXY_SILENT_REDIRECTING")

        private fun fromEnvironment(prefix: String) =
            RunningServer(env("${prefix}_URL"), ServerLog(Path.of(env("${prefix}_LOG"))))

        /** A variable e2e/run.sh sets. */
        fun env(name: String) = System.getenv(name)?.takeIf { it.isNotBlank() }
            ?: error("$name is not set: run these tests with `make e2e`, which starts the servers")
    }
}

/** The server's JSON log, where the sandbox backend writes each code it "sends". */
class ServerLog(private val file: Path) {
    /**
     * The code of verification [requestId], from its `sandbox verification code` record. The record is
     * written before /request answers, but the file is polled briefly in case the write is still buffered.
     */
    fun codeFor(requestId: String, timeout: Duration = Duration.ofSeconds(5)): String {
        val deadline = Instant.now().plus(timeout)
        while (true) {
            Files.readAllLines(file).asSequence()
                .mapNotNull { line -> runCatching { Json.parseToJsonElement(line) as? JsonObject }.getOrNull() }
                .firstOrNull { it.string("msg") == "sandbox verification code" && it.string("request_id") == requestId }
                ?.let { return it.string("code") ?: error("the code record for $requestId has no code: $it") }
            check(Instant.now().isBefore(deadline)) { "no code logged for $requestId in $file" }
            Thread.sleep(50)
        }
    }

    private fun JsonObject.string(key: String) = (this[key] as? JsonPrimitive)?.takeIf { it.isString }?.content
}
