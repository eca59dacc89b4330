"""The OpenAPI 3.1 description of ``iotrack api``, written by hand as data (served at
``/openapi.json``). A test checks that every route the server answers is described here and
that every reference resolves."""

from __future__ import annotations

import json
from typing import Any

from topics.schemas import AVRO_DIR

Json = dict[str, Any]

DEVIATION_KINDS: list[str] = json.loads(
    (AVRO_DIR / "iotrack.DeviationKind.avsc").read_text(encoding="utf-8")
)["symbols"]
"""The symbols of ``iotrack.DeviationKind``: the values of a deviation's ``kind``."""

_NULLABLE_STRING: Json = {"type": ["string", "null"]}
_TIME: Json = {"type": "string", "format": "date-time"}
_NULLABLE_TIME: Json = {"type": ["string", "null"], "format": "date-time"}
_STRINGS: Json = {"type": "array", "items": {"type": "string"}}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(name: str) -> Json:
    return {"$ref": f"#/components/responses/{name}"}


def _ok(schema: str, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _object(properties: Json, required: list[str] | None = None, doc: str = "") -> Json:
    found: Json = {"type": "object", "properties": properties}
    if required is not None:
        found["required"] = required
    if doc:
        found["description"] = doc
    return found


_OPEN_HOLD = _object(
    {
        "agency": {
            "type": "string",
            "enum": ["CUSTOMS", "GDF", "HEALTH", "PHYTOSANITARY", "VETERINARY"],
        },
        "hold_type": {"type": "string"},
        "placed_at": _NULLABLE_TIME,
        "hold_id": {"type": "string"},
    },
    ["agency", "hold_type", "hold_id"],
    "A hold in force, as every role may see it (no reason code).",
)
_VERDICT = _object(
    {
        "verdict": {
            "type": "string",
            "enum": ["CLEARED", "HELD", "NOT_RELEASED", "EXITED", "UNKNOWN"],
        },
        "may_leave": {"type": "boolean"},
        "mrns_pending": _STRINGS,
        "open_holds": {"type": "array", "items": _ref("OpenHold")},
        "reasons": {**_STRINGS, "description": "For gate and terminal staff; never restricted."},
        "as_of": _NULLABLE_TIME,
    },
    ["verdict", "may_leave", "reasons"],
    "The clearance verdict: may the unit leave the port now.",
)
_HOLD = _object(
    {
        "agency": {"type": "string"},
        "hold_id": {"type": "string"},
        "hold_type": {"type": "string"},
        "placed_at": _NULLABLE_TIME,
        "placed_by": _NULLABLE_STRING,
        "lifted_at": _NULLABLE_TIME,
        "lifted_by": _NULLABLE_STRING,
        "open": {"type": "boolean"},
        "reason_code": {**_NULLABLE_STRING, "description": "Customs role only."},
        "reason": {**_NULLABLE_STRING, "description": "Risk details; Customs role only."},
        "outcome": {**_NULLABLE_STRING, "description": "Control outcome; Customs role only."},
    },
    ["agency", "hold_id", "hold_type", "open"],
    "A hold placed by an agency; reason_code, reason and outcome are present for Customs only.",
)
_DEVIATION = _object(
    {
        "event_id": {"type": "string", "format": "uuid"},
        "occurred_at": _TIME,
        "kind": {"type": "string", "enum": DEVIATION_KINDS},
        "severity": {"type": "string"},
        "iot_id": {"type": ["string", "null"], "format": "uuid"},
        "node_id": _NULLABLE_STRING,
        "read_point_id": _NULLABLE_STRING,
        "itu": {**_NULLABLE_STRING, "description": "ITU key, e.g. CONTAINER:MSCU9538930."},
        "mission_path_id": _NULLABLE_STRING,
        "expected": {"type": "string"},
        "observed": {"type": "string"},
    },
    ["event_id", "occurred_at", "kind", "severity", "expected", "observed"],
)
_TIMELINE_NODE = _object(
    {
        "node_id": {"type": "string"},
        "name": _NULLABLE_STRING,
        "kind": {"type": "string"},
        "role": {"type": "string", "enum": ["DEPARTURE", "INTERMEDIATE", "DESTINATION"]},
        "customs_relevant": {"type": "boolean"},
        "time_budget_ms": {
            "type": ["integer", "null"],
            "description": "Time allowed for the leg that ends at this node.",
        },
        "crossed": {"type": "boolean"},
        "first_seen_at": _NULLABLE_TIME,
        "last_seen_at": _NULLABLE_TIME,
        "expected_next": {"type": "boolean"},
        "deadline": _NULLABLE_TIME,
    },
    ["node_id", "role", "crossed", "expected_next"],
    "A node of the mission path, in path order, with when it was crossed.",
)
_TIMELINE = _object(
    {
        "iot_id": {"type": "string", "format": "uuid"},
        "status": {
            "type": ["string", "null"],
            "enum": ["BOUND", "AT_NODE", "IN_TRANSIT", "DEFINITIVE", "CLOSED", None],
        },
        "mission_path_id": _NULLABLE_STRING,
        "mission_path_version": {"type": ["integer", "null"]},
        "current_node_id": _NULLABLE_STRING,
        "definitive_at": _NULLABLE_TIME,
        "binding": {
            "type": ["object", "null"],
            "description": "MRNs and ITUs bound to the IOT_ID, with validity.",
        },
        "nodes": {"type": "array", "items": _ref("TimelineNode")},
        "off_path": {
            "type": "array",
            "items": _object(
                {"node_id": {"type": "string"}, "first_seen_at": _TIME, "last_seen_at": _TIME}
            ),
            "description": "Nodes where the unit was read that are not on its path.",
        },
        "passages": {
            "type": "array",
            "items": {"type": "object"},
            "description": (
                "Reads of the unit or its IOT_ID barcode while bound, oldest first; at most "
                "1000 (passages_truncated says when there were more)."
            ),
        },
        "passages_truncated": {"type": "boolean"},
        "transitions": {
            "type": "array",
            "items": _object(
                {
                    "version": {"type": "integer"},
                    "at": _TIME,
                    "status": {"type": "string"},
                    "node_id": _NULLABLE_STRING,
                }
            ),
        },
        "verdict": {
            "oneOf": [_ref("Verdict"), {"type": "null"}],
            "description": "Without open_holds for terminals.",
        },
        "holds": {
            "type": "array",
            "items": _ref("Hold"),
            "description": "Customs and GdF only (reasons: Customs only).",
        },
        "releases": {
            "type": "array",
            "items": {"type": "object"},
            "description": "Not for terminals.",
        },
        "exit": {"type": ["object", "null"]},
        "deviations": {
            "type": "array",
            "items": _ref("Deviation"),
            "description": "Customs and GdF only.",
        },
    },
    ["iot_id", "nodes", "passages", "transitions"],
    "Where an IOT_ID went along its mission path.",
)
_LOOKUP = _object(
    {
        "itu": {"type": "string", "description": "The unit's key, e.g. CONTAINER:CSQU3054383."},
        "active": {
            "type": "array",
            "items": _object(
                {
                    "iot_id": {"type": "string", "format": "uuid"},
                    "bound_since": _TIME,
                    "mission_path_id": _NULLABLE_STRING,
                    "status": _NULLABLE_STRING,
                    "verdict": {"oneOf": [_ref("Verdict"), {"type": "null"}]},
                }
            ),
            "description": "IOT_IDs the unit is bound to now (one per mission at most).",
        },
        "verdict": {"allOf": [_ref("Verdict")], "description": "The verdict for the unit."},
    },
    ["itu", "active", "verdict"],
)
_PAGE = _object(
    {
        "items": {"type": "array", "items": _ref("Deviation")},
        "next_cursor": {
            "type": "string",
            "description": (
                "Pass as `after` for the next page. Never null: on an empty page it is the "
                "cursor given, so a client keeps it and polls to follow new rows."
            ),
        },
        "has_more": {"type": "boolean"},
    },
    ["items", "next_cursor", "has_more"],
    "A page of deviations in the order the projection recorded them.",
)
_TRAIN = _object(
    {
        "train_id": {"type": "string"},
        "operator": _NULLABLE_STRING,
        "status": {
            "type": ["object", "null"],
            "description": "Where the train stands, as the tracking core publishes it.",
            "properties": {
                "phase": {
                    "type": "string",
                    "enum": ["LISTED", "REFUSED", "PERMITTED", "REVOKED", "CONFIRMING", "DEPARTED"],
                },
                "manifest_version": {"type": ["integer", "null"]},
                "manifest_versions": {"type": "array", "items": {"type": "integer"}},
                "permission_granted": {"type": ["boolean", "null"]},
                "reasons": _STRINGS,
                "units": {"type": "integer"},
                "units_ready": {"type": "integer"},
                "iot_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                "exited": {"type": "integer"},
                "as_of": _TIME,
            },
        },
        "latest_manifest_version": {"type": ["integer", "null"]},
        "manifests": {"type": "array", "items": {"type": "object"}},
        "permission": _object(
            {
                "status": {"type": "string", "enum": ["PENDING", "GRANTED", "REFUSED"]},
                "manifest_version": {"type": ["integer", "null"]},
                "decided_at": _TIME,
                "decided_by": {"type": "string"},
                "reasons": _STRINGS,
                "for_latest_manifest": {"type": "boolean"},
            },
            ["status"],
        ),
        "permissions": {"type": "array", "items": {"type": "object"}},
        "loading_lists": {"type": "array", "items": {"type": "object"}},
    },
    ["train_id", "manifests", "permission"],
)
_GATE = _object(
    {
        "itu": {"type": "string"},
        "may_leave": {"type": "boolean"},
        "verdict": {"type": "string"},
        "iot_id": {"type": ["string", "null"], "format": "uuid"},
        "reasons": _STRINGS,
        "as_of": _NULLABLE_TIME,
        "gate": _NULLABLE_STRING,
        "open_holds": {"type": "array", "items": _ref("OpenHold")},
        "mrns_pending": _STRINGS,
    },
    ["itu", "may_leave", "verdict", "reasons"],
    "May this unit leave through the gate now, from the verdicts held in memory.",
)
_ERROR = _object(
    {
        "error": {"type": "string"},
        "status": {"type": "integer"},
        "message": {"type": "string"},
        "parameter": {"type": "string", "description": "The offending parameter (400 only)."},
    },
    ["error", "status", "message"],
)
_HEALTH = _object(
    {
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "database": {"type": "string", "enum": ["ok", "unavailable"]},
        "gate_state": {"type": "string", "enum": ["ready", "loading"]},
    },
    ["status", "database", "gate_state"],
)


def _query(name: str, description: str, *, required: bool = False, **schema: Any) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _path(name: str, description: str, **schema: Any) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_AUTH_ERRORS = {"401": _error("Unauthorized"), "403": _error("Forbidden")}
_METHOD_ERRORS = {"405": _error("MethodNotAllowed"), "501": _error("NotImplemented")}


def document() -> Json:
    """The OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "iotrack query API",
            "version": "1.0.0",
            "description": (
                "The read side of iotrack: IOT_ID timelines, lookups by transport unit, "
                "deviations, trains, and the gate check. Bearer tokens map to a role (customs, "
                "gdf, terminal, rail-operator); hold reason codes and risk details are shown "
                "to Customs only, a terminal sees verdicts, a rail operator its own trains."
            ),
        },
        # Relative: the document is served by the API itself, on whatever address it is bound.
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/iot/{iot_id}/timeline": {
                "get": {
                    "operationId": "timeline",
                    "summary": "An IOT_ID along its mission path",
                    "description": (
                        "Nodes expected and crossed with times, passages, state transitions, "
                        "the verdict, holds (Customs and GdF), releases and deviations "
                        "(Customs and GdF). Roles: customs, gdf, terminal."
                    ),
                    "parameters": [
                        _path("iot_id", "The IOT_ID (UUID).", type="string", format="uuid")
                    ],
                    "responses": {
                        "200": _ok("Timeline", "The timeline."),
                        "400": _error("BadRequest"),
                        **_AUTH_ERRORS,
                        "404": _error("NotFound"),
                        **_METHOD_ERRORS,
                        "503": _error("Unavailable"),
                    },
                }
            },
            "/lookup": {
                "get": {
                    "operationId": "lookup",
                    "summary": "Active IOT_ID(s) and verdict of a transport unit",
                    "description": "Roles: customs, gdf, terminal.",
                    "parameters": [
                        _query(
                            "kind",
                            "Kind of identifier.",
                            required=True,
                            type="string",
                            enum=["CONTAINER", "ILU", "SWAP_BODY", "SEAL", "PLATE"],
                        ),
                        _query(
                            "value",
                            "The identifier; containers and ILUs must pass their check digit.",
                            required=True,
                        ),
                        _query("country", "Registration country of a plate (ISO 3166 alpha-2)."),
                    ],
                    "responses": {
                        "200": _ok("Lookup", "The unit's active IOT_IDs and verdict."),
                        "400": _error("BadRequest"),
                        **_AUTH_ERRORS,
                        **_METHOD_ERRORS,
                        "503": _error("Unavailable"),
                    },
                }
            },
            "/deviations": {
                "get": {
                    "operationId": "deviations",
                    "summary": "Deviations since a time, keyset-paginated",
                    "description": (
                        "In the order the projection recorded them (a sequence number it "
                        "assigns; occurred_at may go back and forth). A page ends with "
                        "next_cursor; pass it as `after` for the next page. Rows that arrive "
                        "meanwhile never shift a page and are all reached after the rows "
                        "already handed out, whatever their occurred_at: keep polling with the "
                        "last next_cursor to follow new deviations. Roles: customs, gdf."
                    ),
                    "parameters": [
                        _query(
                            "since",
                            "ISO 8601 date-time (UTC when no offset); default: the beginning.",
                            type="string",
                            format="date-time",
                        ),
                        _query(
                            "kind",
                            "Deviation kind (case-insensitive).",
                            type="string",
                            enum=DEVIATION_KINDS,
                        ),
                        _query("node", "node_id where the deviation was observed."),
                        _query(
                            "limit",
                            "Page size, 1 to 500 (default 100).",
                            type="integer",
                            minimum=1,
                            maximum=500,
                        ),
                        _query("after", "Opaque cursor from a previous page's next_cursor."),
                    ],
                    "responses": {
                        "200": _ok("DeviationPage", "A page of deviations."),
                        "400": _error("BadRequest"),
                        **_AUTH_ERRORS,
                        **_METHOD_ERRORS,
                        "503": _error("Unavailable"),
                    },
                }
            },
            "/trains/{train_id}": {
                "get": {
                    "operationId": "train",
                    "summary": "A train: manifest versions, loading lists, permission to leave",
                    "description": (
                        "Roles: customs, gdf, rail-operator (its own trains only: another "
                        "operator's train answers 404, as a train that does not exist)."
                    ),
                    "parameters": [_path("train_id", "Id of the train.")],
                    "responses": {
                        "200": _ok("Train", "The train."),
                        "400": _error("BadRequest"),
                        **_AUTH_ERRORS,
                        "404": _error("NotFound"),
                        **_METHOD_ERRORS,
                        "503": _error("Unavailable"),
                    },
                }
            },
            "/gate-check": {
                "get": {
                    "operationId": "gateCheck",
                    "summary": "May this unit leave through the gate now?",
                    "description": (
                        "Answered from the verdicts held in memory (no database round trip). "
                        "Give a container, or a plate with its country. Roles: customs, gdf, "
                        "terminal."
                    ),
                    "parameters": [
                        _query("container", "ISO 6346 container code."),
                        _query("plate", "Vehicle plate (with country)."),
                        _query("country", "Registration country of the plate, e.g. IT."),
                        _query("gate", "node_id of the gate asking (echoed)."),
                    ],
                    "responses": {
                        "200": _ok("GateDecision", "The decision, with its reasons."),
                        "400": _error("BadRequest"),
                        **_AUTH_ERRORS,
                        **_METHOD_ERRORS,
                        "503": _error("Unavailable"),
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the database and the gate state answer",
                    "security": [],
                    "responses": {
                        "200": _ok("Health", "Both answer."),
                        "503": _ok("Health", "One of them does not."),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics of this process",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "Tokens from the file named by IOTRACK_API_TOKENS_FILE "
                        "(TOKEN ROLE [OPERATOR_ID] per line)."
                    ),
                }
            },
            "schemas": {
                "OpenHold": _OPEN_HOLD,
                "Verdict": _VERDICT,
                "Hold": _HOLD,
                "Deviation": _DEVIATION,
                "TimelineNode": _TIMELINE_NODE,
                "Timeline": _TIMELINE,
                "Lookup": _LOOKUP,
                "DeviationPage": _PAGE,
                "Train": _TRAIN,
                "GateDecision": _GATE,
                "Error": _ERROR,
                "Health": _HEALTH,
            },
            "responses": {
                name: {
                    "description": description,
                    "content": {"application/json": {"schema": _ref("Error")}},
                    **(
                        {
                            "headers": {
                                "WWW-Authenticate": {
                                    "description": 'Bearer realm="iotrack"',
                                    "schema": {"type": "string"},
                                }
                            }
                        }
                        if name == "Unauthorized"
                        else {}
                    ),
                }
                for name, description in (
                    ("BadRequest", "A parameter is missing or malformed; `parameter` names it."),
                    ("Unauthorized", "No valid bearer token."),
                    ("Forbidden", "The token's role may not see this."),
                    ("NotFound", "No such resource."),
                    (
                        "Unavailable",
                        "The database or the gate state cannot answer now, every database "
                        "connection stayed busy, or the server already serves its maximum of "
                        "connections; Retry-After says when to try again.",
                    ),
                    (
                        "MethodNotAllowed",
                        "POST, PUT, PATCH or DELETE: only GET is served (Allow: GET).",
                    ),
                    (
                        "NotImplemented",
                        "Another method (HEAD, OPTIONS, ...): only GET is served (Allow: GET).",
                    ),
                )
            },
        },
    }
