"""Request bodies, with the field names, types and enums of OVH's ``sms.json``, and the
shapes answers share (``Out``, ``VOID``, ``DateTime``, ``Price``, ``IamMetadata``).

Unknown fields are refused (a typo must not be silently ignored); numbers sent as
strings (``"validityPeriod": "2880"``, as OVH's own control panel does) and explicit
``null`` values are accepted.

Answers: every operation declares what it returns (its ``response_model``, in the OpenAPI
document; ``tests/api/test_app.py`` holds every route to it). A response model is an ``Out``:
a field the route returns and the model does not declare is an error, never silently dropped.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from textos.domain.priority import Priority

SmsClass = Literal["flash", "phoneDisplay", "sim", "toolkit"]
Coding = Literal["7bit", "8bit"]
Charset = Literal["UTF-8"]
SenderType = Literal["alpha", "numeric", "shortcode", "virtual"]
SenderStatus = Literal["disable", "enable", "refused", "waitingValidation"]
ResponseType = Literal["cgi", "none", "text"]
TrackingMedia = Literal["email", "sms", "voice"]
RecreditAmount = Literal[100, 200, 250, 500, 1000, 5000, 10000]
CredentialStatus = Literal["expired", "pendingValidation", "refused", "validated"]
"""``auth.CredentialStateEnum``."""

_SURROGATE = re.compile("[\ud800-\udfff]")

MAX_DEFERRAL_MINUTES = 525_600
"""How far ahead a job (``differedPeriod``) or a batch (``deferred``) may be sent: one year."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        """NUL characters and lone surrogates (a JSON ``\\ud800`` escape without its pair: no
        character at all, which UTF-8 cannot encode) reach no handset and no database: refuse them
        with the field's name."""
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, str):
                continue
            if "\x00" in v:
                raise ValueError("must not contain NUL characters")
            if not v.isascii() and _SURROGATE.search(v):
                raise ValueError("must not contain lone surrogates (a \\ud800-\\udfff escape without its pair)")
        return value


class VirtualNumberJobCreate(Body):
    """``POST /sms/{serviceName}/virtualNumbers/{number}/jobs``: a job's body without its sender
    (the number is) and without ``noStopClause``."""

    message: str = Field(min_length=1, max_length=10_000)
    receivers: list[str] | None = Field(default=None, max_length=100_000)
    receiversDocumentUrl: str | None = None
    receiversSlotId: str | None = Field(default=None, coerce_numbers_to_str=True)
    """A string in OVH's schema; OVH's clients send ``1`` as well as ``"1"``."""
    charset: Charset | None = None
    class_: SmsClass | None = Field(default=None, alias="class")
    coding: Coding | None = None
    differedPeriod: int | None = Field(default=0, ge=0, le=MAX_DEFERRAL_MINUTES)
    priority: Priority | None = "high"
    tag: str | None = Field(default=None, max_length=128)
    validityPeriod: int | None = Field(default=2880, ge=1, le=525_600)


class JobCreate(VirtualNumberJobCreate):
    """``POST /sms/{serviceName}/jobs``."""

    sender: str | None = None
    senderForResponse: bool | None = False
    noStopClause: bool | None = False


class Estimate(Body):
    """``POST /sms/estimate``."""

    message: str
    noStopClause: bool
    senderType: SenderType


class TrackingOptionIn(Body):
    """``sms.ResponseTrackingOptions``."""

    media: TrackingMedia
    sender: str = Field(max_length=32)
    target: str = Field(max_length=256)


class ResponseSettings(Body):
    """``sms.Response``."""

    cgiUrl: str | None = None
    responseType: ResponseType | None = None
    text: str | None = None
    trackingDefaultSmsSender: str | None = None
    trackingOptions: list[TrackingOptionIn] | None = Field(default=None, max_length=100)


class TemplatesIn(Body):
    """``sms.Templates``: the fields given are changed."""

    customizedEmailMode: bool | None = None
    customizedSmsMode: bool | None = None
    emailBody: str | None = Field(default=None, max_length=10_000)
    emailFrom: str | None = Field(default=None, max_length=256)
    emailSubject: str | None = Field(default=None, max_length=1024)
    smsBody: str | None = Field(default=None, max_length=10_000)


class AccountUpdate(Body):
    """``PUT /sms/{serviceName}``: writable fields of ``sms.Account`` (read-only ones are ignored)."""

    model_config = ConfigDict(extra="ignore")
    automaticRecreditAmount: RecreditAmount | None = None
    callBack: str | None = None
    creditThresholdForAutomaticRecredit: float | None = Field(default=None, ge=0, le=1e12)
    description: str | None = Field(default=None, max_length=1024)
    smsResponse: ResponseSettings | None = None
    stopCallBack: str | None = None
    templates: TemplatesIn | None = None


class SenderCreate(Body):
    """``POST /sms/{serviceName}/senders``."""

    sender: str
    description: str | None = Field(default=None, max_length=1024)
    reason: str | None = Field(default=None, max_length=1024)


class SenderUpdate(Body):
    """``PUT /sms/{serviceName}/senders/{sender}``."""

    model_config = ConfigDict(extra="ignore")
    description: str | None = Field(default=None, max_length=1024)
    status: SenderStatus | None = None


class AccessRuleIn(Body):
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str


class CredentialRequest(Body):
    """``POST /auth/credential``."""

    accessRules: list[AccessRuleIn] = Field(min_length=1)
    redirection: str | None = None
    allowedIPs: list[str] | None = None


class ReceiverCreate(Body):
    """``POST /sms/{serviceName}/receivers``."""

    autoUpdate: bool | None = False
    csvUrl: str | None = None
    description: str | None = Field(default="", max_length=1024)
    documentId: str | None = None
    slotId: int = Field(ge=-(2**63), le=2**63 - 1)


class ReceiverUpdate(Body):
    """``PUT /sms/{serviceName}/receivers/{slotId}``: writable fields of ``sms.Receiver``."""

    model_config = ConfigDict(extra="ignore")
    autoUpdate: bool | None = None
    description: str | None = Field(default=None, max_length=1024)


class ReceiverClean(Body):
    """``POST /sms/{serviceName}/receivers/{slotId}/clean``."""

    freemium: bool | None = True
    priceOnly: bool | None = False


class BatchCreate(Body):
    """``sms.BatchParams``."""

    class_: Literal["FLASH", "PHONE", "SIM"] | None = Field(default=None, alias="class")
    deferred: str | None = None
    from_: str | None = Field(default=None, alias="from")
    message: str = Field(min_length=1, max_length=10_000)
    name: str | None = Field(default="", max_length=1024)
    noStop: bool | None = False
    senderForResponse: bool | None = False
    slotID: str | None = Field(default=None, coerce_numbers_to_str=True)
    tag: str | None = Field(default=None, max_length=128)
    to: list[str] | None = Field(default=None, max_length=100_000)


class BatchUpdate(Body):
    """``sms.BatchUpdateParams``."""

    name: str = Field(max_length=1024)


class TransferCredits(Body):
    """``POST /sms/{serviceName}/transferCredits``."""

    smsAccountTarget: str = Field(min_length=1, max_length=64)
    credits: float = Field(allow_inf_nan=False, le=1e12)


class OrderCredits(Body):
    """``POST /order/sms/{serviceName}/credits``."""

    quantity: int = Field(le=2**63 - 1)


class OrderNewAccount(OrderCredits):
    """``POST /order/sms/new`` (checked by ``services.orders.check_new_account``)."""

    channel: str | None = None
    smpp: bool | None = None


class Out(BaseModel):
    """A response body: exactly the fields the route returns (an undeclared one is a 500 in the
    tests, never dropped on the way out)."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


VOID: Any = type(None)
"""The ``response_model`` of OVH's ``void`` operations: the answer is JSON ``null``."""

DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""OVH's ``datetime`` as Textos writes it (``domain.clock.iso``: ``2026-11-24T22:51:38+00:00``)."""

Date = Annotated[str, Field(json_schema_extra={"format": "date"})]
"""OVH's ``date`` (``2026-11-24``)."""


class Price(Out):
    """``order.Price`` as ``sms.json`` has it (``/sms/rates/*``: no ``priceInUcents``)."""

    currencyCode: str
    text: str
    value: float


class IamMetadata(Out):
    """``iam.ResourceMetadata`` of an account or a virtual number."""

    displayName: str | None
    id: str
    tags: dict[str, str] | None
    urn: str


class BlacklistOut(Out):
    """``sms.Blacklist`` (a response: ``GET /sms/{s}/blacklists/{number}``)."""

    batchID: str | None = Field(default=None, description="The batch whose SMS the number answered STOP to")
    dateCreation: DateTime = Field(description="When the STOP came (ISO 8601, UTC)")
    number: str = Field(description="The blacklisted number (E.164)")
    smsOutgoingID: int | None = Field(default=None, description="The last commercial SMS the account sent the number before its STOP")


class AccessRuleOut(Out):
    """``auth.AccessRule``."""

    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str


class ApiCredentialOut(Out):
    """``api.Credential`` / ``auth.ApiCredential`` (``GET /me/api/credential/{id}``, ``GET /auth/currentCredential``)."""

    allowedIPs: list[str] | None = Field(default=None, description="IP blocks allowed to use the key (null: any)")
    applicationId: int
    creation: DateTime = Field(description="When the key was made (ISO 8601, UTC)")
    credentialId: int
    expiration: DateTime | None = Field(default=None, description="When the key stops working (null: never)")
    lastUse: DateTime | None = None
    ovhSupport: bool = False
    rules: list[AccessRuleOut]
    status: CredentialStatus


class ApiApplicationOut(Out):
    """``api.Application`` / ``auth.ApiApplication`` (``GET /me/api/application/{id}``); never its secret."""

    applicationId: int
    applicationKey: str
    description: str
    name: str
    status: Literal["active", "blocked", "inactive", "trusted"]


class CredentialUpdate(Body):
    """``PUT /me/api/credential/{credentialId}``: ``allowedIPs``, the one writable property of ``api.Credential``."""

    allowedIPs: list[str] | None = None
