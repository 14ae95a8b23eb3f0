package com.github.verifyproxy.e2e

import com.github.verifyproxy.client.apis.VerificationApi
import com.github.verifyproxy.client.infrastructure.Serializer
import com.github.verifyproxy.client.models.CheckRequest
import com.github.verifyproxy.client.models.ErrorBody
import com.github.verifyproxy.client.models.VerificationRequest
import com.github.verifyproxy.client.models.VerificationStarted
import java.net.URI
import java.net.URLDecoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.time.Duration
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * Silent authentication as an Android app does it, through the Kotlin client: `/request` answers a
 * `check_url`, the phone opens it (over mobile data in real life; the sandbox serves it itself), takes the
 * code from the answer, and sends it to `/check` as usual. Against the two Verify v2 sandboxes that
 * e2e/run.sh starts: one whose check_url answers the code as JSON, and one with a redirect URL, whose
 * check_url redirects to the app's page with the code in the URL's fragment.
 */
class SilentAuthTest {
    private val silent = RunningServer.silentAuth()
    private val redirecting = RunningServer.silentAuthRedirecting()

    // Redirects are never followed, so that each answer of a check_url is seen as the server gives it;
    // the redirect's target (the app's page) is not served by anyone here.
    private val http = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .followRedirects(HttpClient.Redirect.NEVER)
        .connectTimeout(Duration.ofSeconds(5))
        .build()

    @Test
    fun `check_url answers the code as JSON, and that code verifies the number with a token`() {
        val number = "+14155550111"
        val api = VerificationApi(silent.baseUrl)
        val started = api.requestVerification(VerificationRequest(number = "+1 415 555 0111"))
        assertEquals("0", started.status)
        val checkUrl = checkUrlOn(silent, started)

        val answer = get(checkUrl)
        assertEquals(200, answer.statusCode(), answer.body())
        assertEquals("no-store", answer.headers().firstValue("Cache-Control").orElse(null))
        val body = Json.parseToJsonElement(answer.body()).jsonObject
        assertEquals(setOf("request_id", "code"), body.keys, "check_url answered $body")
        assertEquals(started.requestId, body.string("request_id"))
        val code = checkNotNull(body.string("code")) { "check_url answered no code: $body" }
        // The fallback SMS would bring the same code: the sandbox logs the one it "sends".
        assertEquals(silent.log.codeFor(started.requestId), code)

        checkVerifies(silent, started, code, number)

        // A verified number's check_url leads nowhere: 404 with the contract's ErrorBody.
        val spent = get(checkUrl)
        assertEquals(404, spent.statusCode(), spent.body())
        val error = Serializer.kotlinxSerializationJson.decodeFromString(ErrorBody.serializer(), spent.body())
        assertEquals("not_found", error.error)
    }

    @Test
    fun `with a redirect URL, check_url redirects to the app's page with the request_id and code in the fragment`() {
        val number = "+14155550112"
        val started = VerificationApi(redirecting.baseUrl).requestVerification(VerificationRequest(number = "14155550112"))
        assertEquals("0", started.status)

        val answer = get(checkUrlOn(redirecting, started))
        assertEquals(302, answer.statusCode(), answer.body())
        assertEquals("no-store", answer.headers().firstValue("Cache-Control").orElse(null))
        val location = URI(answer.headers().firstValue("Location").orElseThrow { AssertionError("a redirect without Location") })
        assertEquals(RunningServer.env("VERIFY_PROXY_SILENT_APP_PAGE"), location.toString().substringBefore('#'))
        // The fragment, as the app's page reads it: never sent to any server, so the code stays on the phone.
        val fragment = checkNotNull(location.rawFragment) { "no fragment in $location" }.split('&').associate {
            URLDecoder.decode(it.substringBefore('='), Charsets.UTF_8) to URLDecoder.decode(it.substringAfter('='), Charsets.UTF_8)
        }
        assertEquals(setOf("request_id", "code"), fragment.keys, "the fragment of $location")
        assertEquals(started.requestId, fragment["request_id"])

        checkVerifies(redirecting, started, fragment.getValue("code"), number)
    }

    @Test
    fun `without silent authentication, the Verify v1 sandbox answers no check_url`() {
        val started = VerificationApi(RunningServer.fromEnvironment().baseUrl)
            .requestVerification(VerificationRequest(number = "+1 415 555 0108"))
        assertEquals("0", started.status)
        assertNull(started.checkUrl)
    }

    /** The check_url of [started]: an absolute http URL on [server], which the phone can reach as the app did. */
    private fun checkUrlOn(server: RunningServer, started: VerificationStarted): URI {
        val url = checkNotNull(started.checkUrl) { "a silent start must answer check_url" }
        assertTrue(url.isAbsolute && url.scheme == "http", "check_url $url is not an absolute http URL")
        assertEquals(URI(server.baseUrl).authority, url.authority, "check_url $url is not on ${server.baseUrl}")
        return url
    }

    /** The code from check_url verifies the number through `/check`, with a token a backend accepts. */
    private fun checkVerifies(server: RunningServer, started: VerificationStarted, code: String, number: String) {
        val verified = VerificationApi(server.baseUrl).checkVerification(CheckRequest(requestId = started.requestId, code = code))
        assertEquals("0", verified.status)
        assertEquals(started.requestId, verified.requestId)
        val token = checkNotNull(verified.verificationToken) { "a right code must answer verification_token" }
        AppBackend(server.baseUrl).verify(token, number, started.requestId)
    }

    private fun get(url: URI): HttpResponse<String> =
        http.send(HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString())

    private fun JsonObject.string(key: String) =
        (this[key] as? JsonPrimitive)?.takeIf { it.isString }?.content
}
