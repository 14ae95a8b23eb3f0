package com.github.verifyproxy.e2e

import com.github.verifyproxy.client.apis.TokensApi
import com.github.verifyproxy.client.apis.VerificationApi
import com.github.verifyproxy.client.models.CheckRequest
import com.github.verifyproxy.client.models.JSONWebKey
import com.github.verifyproxy.client.models.VerificationRequest
import com.nimbusds.jose.proc.BadJWSException
import com.nimbusds.jose.util.Base64URL
import com.nimbusds.jwt.SignedJWT
import java.time.Duration
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * The `verification_token` of a right code, verified as an app's own backend does it (see [AppBackend]):
 * with Nimbus JOSE+JWT and nothing but the server's published key set.
 */
class VerificationTokenTest {
    private val server = RunningServer.fromEnvironment()
    private val api = VerificationApi(server.baseUrl)
    private val backend = AppBackend(server.baseUrl)

    @Test
    fun `a right code answers a token that a backend verifies with the published keys alone`() {
        val number = "+14155550105" // E.164, as the token names it, whatever the format the app sent
        val started = api.requestVerification(VerificationRequest(number = "+1 (415) 555-0105"))
        val verified = api.checkVerification(
            CheckRequest(requestId = started.requestId, code = server.log.codeFor(started.requestId)),
        )
        val token = checkNotNull(verified.verificationToken) { "a right code must answer verification_token" }

        val claims = backend.verify(token, number, started.requestId)
        assertEquals(Duration.ofMinutes(10), Duration.between(claims.issueTime.toInstant(), claims.expirationTime.toInstant()))

        // The same signature over another number: refused for the signature itself, since this backend
        // expects the other number and so has no claim to object to.
        val (header, payload, signature) = token.split('.')
        val forged = Base64URL.encode(Base64URL(payload).decodeToString().replace(number, "+14155550999"))
        assertThrows(BadJWSException::class.java) {
            backend.verify("$header.$forged.$signature", "+14155550999", started.requestId)
        }

        // The key set through the generated client, as the contract describes it: the signing key is there.
        // (The generator names the property `keys` propertyKeys, away from Kotlin's Map.keys.)
        val kid = SignedJWT.parse(token).header.keyID
        val published = TokensApi(server.baseUrl).getJSONWebKeySet().propertyKeys
        assertTrue(
            published.any { it.kty == JSONWebKey.Kty.EC && it.alg == JSONWebKey.Alg.ES256 && it.kid == kid },
            "no EC ES256 key with the token's kid $kid in $published",
        )
    }
}
