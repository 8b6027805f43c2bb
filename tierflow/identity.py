"""Who calls the HTTP API: a principal, authenticated by a signed token (JWT) or an API key.

A caller sends ``Authorization: Bearer <credential>``. A credential with two dots is a JWT: one
signed with a shared secret (HS256) or by a key the host publishes in a JWKS (RS256, ES256),
from the configured issuer, for the configured audience, not expired; its ``sub`` (or the
configured name claim) names the principal, its ``roles`` claim lists roles, and
``tierflow_service: true`` (or the role ``service``) makes it a service. Any other credential
is an API key, looked up by its SHA-256 in the keys file (the file never holds a key), compared
in constant time.

The principal's name is who acts on a ticket; what it may do is the ticket's policy's business
(the workflow checks it for every caller). Roles from a token are reported, never trusted to
grant anything: the policy says who holds which role.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import jwt
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tierflow.files import read_regular_file
from tierflow.statemachine.text import ACTOR_MAX, NotCanonicalError, require_canonical

__all__ = [
    "ApiKeys",
    "Identities",
    "IdentityConfigError",
    "IdentitySettings",
    "IdentityUnavailable",
    "JwtVerifier",
    "Principal",
    "Unauthenticated",
    "key_line",
    "new_key",
]

SERVICE_ROLE: Final = "service"
SERVICE_CLAIM: Final = "tierflow_service"
HMAC_ALGORITHMS: Final = ("HS256",)
JWKS_ALGORITHMS: Final = ("RS256", "ES256")
# The claims that hold times: numbers (NumericDate, RFC 7519), never strings.
TIME_CLAIMS: Final = ("exp", "nbf", "iat")
# Clock skew allowed on exp/nbf/iat, seconds.
LEEWAY: Final = 30
# How long a fetched JWKS is used before it is fetched again (a key unknown to it triggers one
# earlier refresh, at most every 30 s), and how long a fetch may take.
JWKS_LIFESPAN: Final = 300
JWKS_TIMEOUT: Final = 5
HMAC_SECRET_MIN: Final = 32  # bytes: HS256's own digest size
CREDENTIAL_MAX: Final = 16 * 1024
ROLES_MAX: Final = 50
FILE_MAX: Final = 1024 * 1024
KEY_PREFIX: Final = "tfk_"
_SHA256_HEX: Final = 64


class Principal(BaseModel):
    """An authenticated caller: the name it acts under, its roles, whether it is a service."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(max_length=ACTOR_MAX, description="who acts: recorded on the timeline")
    roles: tuple[str, ...] = Field(default=(), description="roles its credential carries")
    service: bool = Field(
        default=False, description="a host system, which may name the person it acts for"
    )


class Unauthenticated(Exception):  # noqa: N818 (reads as the answer it becomes: 401)
    """The credential is missing, malformed, unknown, expired or not for us (401)."""


class IdentityUnavailable(Exception):  # noqa: N818 (reads as the answer it becomes: 503)
    """A credential could not be checked now (the JWKS could not be fetched): retry (503)."""


class IdentityConfigError(ValueError):
    """The identity configuration is unusable; the message says what to set, on one line."""


class IdentitySettings(BaseSettings):
    """Where identities come from (``TIERFLOW_*`` variables); see docs/hosting-and-embedding.md,
    "Identities"."""

    model_config = SettingsConfigDict(env_prefix="TIERFLOW_", extra="ignore", env_ignore_empty=True)

    jwt_secret_file: Path | None = None
    jwt_secret: SecretStr | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_name_claim: str = "sub"
    jwt_roles_claim: str = "roles"
    api_keys_file: Path | None = None
    # No longer read: a shared token named nobody. Set, it stops the API from starting.
    api_token: SecretStr | None = None

    @property
    def configured(self) -> bool:
        return any((self.jwt_secret_file, self.jwt_secret, self.jwt_jwks_url, self.api_keys_file))


def principal_name(value: object) -> str:
    """``value`` as a principal's name: a string of 1 to ACTOR_MAX characters already in the
    canonical form policies compare names in (``statemachine.text.canonical_name``).

    The one check for every credential — a token's subject, an API key's name — so that a
    subject differing from a person's name by a zero-width character, a non-breaking space or
    extra spaces is refused, never taken for that person. Raises NotCanonicalError saying why.
    """
    if not isinstance(value, str):
        raise NotCanonicalError("is not a string")
    if len(value) > ACTOR_MAX:
        raise NotCanonicalError(f"is over {ACTOR_MAX} characters")
    return require_canonical(value)


def _name(value: object, what: str) -> str:
    try:
        return principal_name(value)
    except NotCanonicalError as err:
        raise Unauthenticated(f"{what} {err}") from None


def _roles(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split() if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or len(items) > ROLES_MAX
        or not all(
            isinstance(r, str) and 0 < len(r) <= ACTOR_MAX and r.isprintable() for r in items
        )
    ):
        raise Unauthenticated(f"the token's roles are not a list of at most {ROLES_MAX} names")
    return tuple(items)


class JwtVerifier:
    """Verifies signed tokens: HS256 with a shared secret, RS256/ES256 with a JWKS's keys."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        secret: bytes | None = None,
        jwks_url: str | None = None,
        name_claim: str = "sub",
        roles_claim: str = "roles",
    ) -> None:
        if secret is None and jwks_url is None:
            raise IdentityConfigError("a JWT verifier needs a secret or a JWKS URL")
        if secret is not None and len(secret) < HMAC_SECRET_MIN:
            raise IdentityConfigError(
                f"the JWT secret is {len(secret)} bytes; HS256 needs at least {HMAC_SECRET_MIN}"
            )
        self.issuer = issuer
        self.audience = audience
        self.name_claim = name_claim
        self.roles_claim = roles_claim
        self._secret = secret
        self._jwks = (
            jwt.PyJWKClient(
                _jwks_url(jwks_url),
                cache_jwk_set=True,
                lifespan=JWKS_LIFESPAN,
                timeout=JWKS_TIMEOUT,
            )
            if jwks_url is not None
            else None
        )

    def verify(self, token: str) -> Principal:
        """The principal the token names; raises Unauthenticated (or IdentityUnavailable)."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        claims = self._claims(token, algorithm)
        name = claims.get(self.name_claim)
        if name is None:
            raise Unauthenticated(f"the token has no {self.name_claim!r} claim")
        roles = _roles(claims.get(self.roles_claim))
        return Principal(
            name=_name(name, f"the token's {self.name_claim!r} claim"),
            roles=roles,
            service=claims.get(SERVICE_CLAIM) is True or SERVICE_ROLE in roles,
        )

    def _claims(self, token: str, algorithm: object) -> dict[str, Any]:
        key: Any
        if algorithm in HMAC_ALGORITHMS and self._secret is not None:
            key, algorithms = self._secret, list(HMAC_ALGORITHMS)
        elif algorithm in JWKS_ALGORITHMS and self._jwks is not None:
            key, algorithms = self._signing_key(token), [algorithm]
        else:
            accepted = (HMAC_ALGORITHMS if self._secret else ()) + (
                JWKS_ALGORITHMS if self._jwks else ()
            )
            raise Unauthenticated(f"tokens must be signed with {' or '.join(accepted)}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is meant for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token's issuer is not trusted here") from None
        except jwt.MissingRequiredClaimError as err:
            raise Unauthenticated(f"the token has no {err.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        for claim in TIME_CLAIMS:
            value = claims.get(claim)
            # PyJWT takes "9999999999" (a string) for a time; JSON numbers only, finite.
            if claim in claims and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise Unauthenticated(
                    f"the token's {claim!r} claim must be a number (seconds since the epoch)"
                )
        return claims

    def _signing_key(self, token: str) -> Any:
        assert self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise IdentityUnavailable(
                "the token's signing keys cannot be fetched now; retry later"
            ) from None
        except jwt.PyJWTError:
            raise Unauthenticated(
                "the token's signing key is not one the issuer publishes"
            ) from None
        # Only public keys sign here: a symmetric ("oct") key in the set would let its holder
        # mint tokens, and the key's own algorithm must be the one the token names.
        if getattr(key, "key_type", None) not in ("RSA", "EC"):
            raise Unauthenticated("the issuer's key for this token is not a public signing key")
        return key


def _jwks_url(url: str) -> str:
    """An https URL (http only to this machine: a JWKS fetched in clear could be replaced)."""
    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise IdentityConfigError(
            "TIERFLOW_JWT_JWKS_URL must be an https URL (http only to localhost)"
        )
    return url


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class ApiKeys:
    """API keys, kept as SHA-256 digests, each naming a principal.

    A generated key holds 256 random bits: a fast hash is as safe as a slow one against
    guessing, and costs nothing per request.
    """

    def __init__(self, entries: Iterable[tuple[bytes, Principal]]) -> None:
        self._entries = list(entries)

    @classmethod
    def of(cls, keys: Mapping[str, Principal]) -> ApiKeys:
        """From keys in the clear (tests, embedding): only their digests are kept."""
        return cls((_digest(key), principal) for key, principal in keys.items())

    @classmethod
    def load(cls, path: Path) -> ApiKeys:
        """Read a keys file; raises IdentityConfigError naming the file and the line."""
        try:
            raw = read_regular_file(path, FILE_MAX)
        except OSError as err:
            raise IdentityConfigError(
                f"cannot read the API keys file {path}: {err.strerror or err}"
            ) from None
        if len(raw) > FILE_MAX:
            raise IdentityConfigError(f"the API keys file {path} is over 1 MiB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise IdentityConfigError(f"the API keys file {path} is not UTF-8") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str = "the API keys file") -> ApiKeys:
        """Lines ``sha256:<64 hex digits> <name> [service] [roles=a,b]``; a name with spaces
        is quoted (``'Alex Kim'``); ``#`` starts a comment."""
        entries: list[tuple[bytes, Principal]] = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                fields = shlex.split(line, comments=True)
            except ValueError:
                raise IdentityConfigError(f"{source}, line {number}: unbalanced quotes") from None
            if not fields:
                continue
            entries.append(_entry(fields, f"{source}, line {number}"))
        digests = [digest for digest, _ in entries]
        if len(set(digests)) != len(digests):
            raise IdentityConfigError(f"{source}: the same key hash is listed twice")
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def verify(self, key: str) -> Principal:
        """The key's principal; every entry is compared, in constant time."""
        digest = _digest(key)
        found: Principal | None = None
        for stored, principal in self._entries:
            if hmac.compare_digest(stored, digest):
                found = principal
        if found is None:
            raise Unauthenticated("unknown API key")
        return found


def _entry(fields: list[str], where: str) -> tuple[bytes, Principal]:
    if len(fields) < 2:
        raise IdentityConfigError(f"{where}: expected '<hash> <name> [service] [roles=a,b]'")
    stored, name, *flags = fields
    hex_digest = stored.removeprefix("sha256:")
    if len(hex_digest) != _SHA256_HEX or not all(c in "0123456789abcdefABCDEF" for c in hex_digest):
        raise IdentityConfigError(
            f"{where}: the hash must be sha256:<64 hex digits> (as `tierflow api-keys new` writes)"
        )
    try:
        name = principal_name(name)
    except NotCanonicalError as err:
        raise IdentityConfigError(f"{where}: the name {err}") from None
    service, roles = False, tuple[str, ...]()
    for flag in flags:
        if flag == SERVICE_ROLE:
            service = True
        elif flag.startswith("roles="):
            roles = tuple(r for r in flag.removeprefix("roles=").split(",") if r)
        else:
            raise IdentityConfigError(f"{where}: unknown flag (use 'service' or 'roles=a,b')")
    return bytes.fromhex(hex_digest), Principal(name=name, roles=roles, service=service)


def new_key() -> str:
    """A new random API key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_line(key: str, name: str, *, service: bool = False, roles: Iterable[str] = ()) -> str:
    """The keys-file line for ``key``: its SHA-256, never the key."""
    try:
        name = principal_name(name)
    except NotCanonicalError as err:
        raise IdentityConfigError(f"the name {err}") from None
    roles = [r for r in roles if r]
    if any("," in r or not r.isprintable() or " " in r for r in roles):
        raise IdentityConfigError("roles are printable names without spaces or commas")
    parts = [f"sha256:{_digest(key).hex()}", shlex.quote(name)]
    if service:
        parts.append(SERVICE_ROLE)
    if roles:
        parts.append(f"roles={','.join(roles)}")
    return " ".join(parts)


class Identities:
    """Every way a caller may authenticate: signed tokens, API keys, or both."""

    def __init__(self, *, jwt: JwtVerifier | None = None, api_keys: ApiKeys | None = None) -> None:
        if jwt is None and api_keys is None:
            raise IdentityConfigError("no identities: give signed tokens or API keys")
        self.jwt = jwt
        self.api_keys = api_keys

    @classmethod
    def from_settings(cls, settings: IdentitySettings | None = None) -> Identities | None:
        """What the settings (default: the environment) configure; None when nothing is."""
        s = settings if settings is not None else IdentitySettings()
        if s.api_token is not None:
            raise IdentityConfigError(
                "TIERFLOW_API_TOKEN is no longer supported: run `tierflow api-keys hash NAME "
                "--service` with the token on stdin, put the line in a keys file and set "
                "TIERFLOW_API_KEYS_FILE (see docs/hosting-and-embedding.md, Identities)"
            )
        if not s.configured:
            return None
        return cls(
            jwt=_jwt_of(s), api_keys=ApiKeys.load(s.api_keys_file) if s.api_keys_file else None
        )

    def authenticate(self, credential: str) -> Principal:
        """The principal behind a bearer credential; raises Unauthenticated (401) or
        IdentityUnavailable (503)."""
        if not credential or len(credential) > CREDENTIAL_MAX:
            raise Unauthenticated("missing or oversized credential")
        if credential.count(".") == 2:  # header.payload.signature
            if self.jwt is None:
                raise Unauthenticated("signed tokens are not accepted here; use an API key")
            return self.jwt.verify(credential)
        if self.api_keys is None:
            raise Unauthenticated("API keys are not accepted here; use a signed token")
        return self.api_keys.verify(credential)


def _jwt_of(s: IdentitySettings) -> JwtVerifier | None:
    secret: bytes | None = None
    if s.jwt_secret_file is not None and s.jwt_secret is not None:
        raise IdentityConfigError("set TIERFLOW_JWT_SECRET_FILE or TIERFLOW_JWT_SECRET, not both")
    if s.jwt_secret_file is not None:
        secret = _secret_file(s.jwt_secret_file)
    elif s.jwt_secret is not None:
        secret = s.jwt_secret.get_secret_value().encode()
    if secret is None and s.jwt_jwks_url is None:
        return None
    if not s.jwt_issuer or not s.jwt_audience:
        raise IdentityConfigError(
            "signed tokens need TIERFLOW_JWT_ISSUER and TIERFLOW_JWT_AUDIENCE (the iss and aud "
            "every token must carry)"
        )
    return JwtVerifier(
        issuer=s.jwt_issuer,
        audience=s.jwt_audience,
        secret=secret,
        jwks_url=s.jwt_jwks_url,
        name_claim=s.jwt_name_claim,
        roles_claim=s.jwt_roles_claim,
    )


def _secret_file(path: Path) -> bytes:
    try:
        raw = read_regular_file(path, FILE_MAX)
    except OSError as err:
        raise IdentityConfigError(
            f"cannot read the JWT secret file {path}: {err.strerror or err}"
        ) from None
    if len(raw) > FILE_MAX:
        raise IdentityConfigError(f"the JWT secret file {path} is over 1 MiB")
    return raw.strip()
