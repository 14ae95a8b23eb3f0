package com.github.verifyproxy.e2e

import com.github.verifyproxy.client.apis.VerificationApi
import com.github.verifyproxy.client.infrastructure.ClientError
import com.github.verifyproxy.client.infrastructure.ClientException
import com.github.verifyproxy.client.infrastructure.Serializer
import com.github.verifyproxy.client.models.CancelRequest
import com.github.verifyproxy.client.models.CancelResult
import com.github.verifyproxy.client.models.CheckRequest
import com.github.verifyproxy.client.models.ErrorBody
import com.github.verifyproxy.client.models.VerificationRequest
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Test

/**
 * The whole verification flow, as an Android app does it, through the Kotlin client that OpenAPI
 * Generator makes from openapi.yaml, against a running server with the sandbox backend. The right code
 * comes from where a developer finds it: the server's log (see [ServerLog]).
 */
class VerificationFlowTest {
    private val server = RunningServer.fromEnvironment()
    private val api = VerificationApi(server.baseUrl)

    @Test
    fun `a wrong code is refused with the ErrorBody, the right code verifies the number`() {
        val started = api.requestVerification(VerificationRequest(number = "+1 415 555 0101"))
        assertEquals("0", started.status)
        val code = server.log.codeFor(started.requestId)

        val refused = assertThrows(ClientException::class.java) {
            api.checkVerification(CheckRequest(requestId = started.requestId, code = wrongCode(code)))
        }
        assertEquals(400, refused.statusCode)
        val error = decodeError(refused)
        assertEquals("code_mismatch", error.error)
        assertFalse(error.errorText.isBlank(), "error_text must say what went wrong")
        assertEquals("16", error.status)
        assertEquals(started.requestId, error.requestId)

        val verified = api.checkVerification(CheckRequest(requestId = started.requestId, code = code))
        assertEquals("0", verified.status)
        assertEquals(started.requestId, verified.requestId)
    }

    @Test
    fun `a fresh verification can be cancelled, and only once`() {
        val started = api.requestVerification(VerificationRequest(number = "14155550102"))

        val cancelled = api.cancelVerification(CancelRequest(requestId = started.requestId))
        assertEquals("0", cancelled.status)
        assertEquals(CancelResult.Command.cancel, cancelled.command)

        val again = assertThrows(ClientException::class.java) {
            api.cancelVerification(CancelRequest(requestId = started.requestId))
        }
        assertEquals(400, again.statusCode)
        assertEquals("not_found", decodeError(again).error)
    }

    @Test
    fun `a second request for a number being verified is refused without the running request_id`() {
        api.requestVerification(VerificationRequest(number = "14155550106"))

        // The running request_id is withheld by default: whoever knows only the number could cancel it.
        val refused = assertThrows(ClientException::class.java) {
            api.requestVerification(VerificationRequest(number = "+1 415 555 0106"))
        }
        assertEquals(400, refused.statusCode)
        val error = decodeError(refused)
        assertEquals("concurrent_verification", error.error)
        assertEquals("10", error.status)
        assertEquals(null, error.requestId)
    }

    @Test
    fun `an invalid number is refused before anything is sent`() {
        val refused = assertThrows(ClientException::class.java) {
            api.requestVerification(VerificationRequest(number = "12"))
        }
        assertEquals(400, refused.statusCode)
        val error = decodeError(refused)
        assertEquals("invalid_number", error.error)
        assertEquals(null, error.requestId)
    }

    /** The generated client keeps a 4xx body as text; the app decodes it into the contract's ErrorBody. */
    private fun decodeError(e: ClientException): ErrorBody {
        val body = (e.response as ClientError<*>).body as String
        return Serializer.kotlinxSerializationJson.decodeFromString(ErrorBody.serializer(), body)
    }

    private fun wrongCode(code: String): String {
        val wrong = code.map { if (it == '9') '0' else it + 1 }.joinToString("")
        assertNotEquals(code, wrong)
        return wrong
    }
}
