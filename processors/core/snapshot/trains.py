"""Trains as plain records and back: loading list items and answers, manifest versions with
their wagons, reasons, the permission to leave. One ``<type>_record`` / ``<type>_from`` pair per
type, field by field (``processors.core.snapshot`` says why)."""

from __future__ import annotations

from processors import rail
from processors.core.snapshot.plain import Plain, Record
from processors.core.snapshot.tracking import itu_from, itu_record
from processors.core.state import ManifestVersion, Permission, Train, UnitAnswer
from processors.events import LoadingListItem, WagonEntry


def item_record(item: LoadingListItem) -> Record:
    return {
        "itu": itu_record(item.itu),
        "mrn": item.mrn,
        "ready": item.ready,
        "reasons": list(item.reasons),
        "iot_id": item.iot_id,
    }


def item_from(record: Plain) -> LoadingListItem:
    return LoadingListItem(
        itu=itu_from(record["itu"]),
        mrn=record["mrn"],
        ready=record["ready"],
        reasons=tuple(record["reasons"]),
        iot_id=record["iot_id"],
    )


def wagon_record(wagon: WagonEntry) -> Record:
    return {
        "position": wagon.position,
        "wagon_number": wagon.wagon_number,
        "itus": [itu_record(i) for i in wagon.itus],
        "mrns": list(wagon.mrns),
        "transport_document": wagon.transport_document,
        "mrns_by_itu": {k: list(v) for k, v in wagon.mrns_by_itu.items()},
    }


def wagon_from(record: Plain) -> WagonEntry:
    return WagonEntry(
        position=record["position"],
        wagon_number=record["wagon_number"],
        itus=tuple(itu_from(i) for i in record["itus"]),
        mrns=tuple(record["mrns"]),
        transport_document=record["transport_document"],
        mrns_by_itu={k: tuple(v) for k, v in record["mrns_by_itu"].items()},
    )


def reason_record(reason: rail.Reason) -> Record:
    return {"code": reason.code.value, "text": reason.text}


def reason_from(record: Plain) -> rail.Reason:
    return rail.Reason(rail.ReasonCode(record["code"]), record["text"])


def answer_record(answer: UnitAnswer) -> Record:
    return {
        "itu": itu_record(answer.itu),
        "mrn": answer.mrn,
        "reasons": [reason_record(r) for r in answer.reasons],
        "iot_id": answer.iot_id,
    }


def answer_from(record: Plain) -> UnitAnswer:
    return UnitAnswer(
        itu=itu_from(record["itu"]),
        mrn=record["mrn"],
        reasons=tuple(reason_from(r) for r in record["reasons"]),
        iot_id=record["iot_id"],
    )


def manifest_record(manifest: ManifestVersion) -> Record:
    return {
        "version": manifest.version,
        "supersedes_version": manifest.supersedes_version,
        "wagons": [wagon_record(w) for w in manifest.wagons],
        "received_at": manifest.received_at,
        "problems": [reason_record(r) for r in manifest.problems],
    }


def manifest_from(record: Plain) -> ManifestVersion:
    return ManifestVersion(
        version=record["version"],
        supersedes_version=record["supersedes_version"],
        wagons=tuple(wagon_from(w) for w in record["wagons"]),
        received_at=record["received_at"],
        problems=tuple(reason_from(r) for r in record["problems"]),
    )


def permission_record(permission: Permission) -> Record:
    return {
        "granted": permission.granted,
        "reasons": [reason_record(r) for r in permission.reasons],
    }


def permission_from(record: Plain) -> Permission:
    return Permission(record["granted"], tuple(reason_from(r) for r in record["reasons"]))


def train_record(train: Train) -> Record:
    return {
        "train_id": train.train_id,
        "operator": train.operator,
        "phase": train.phase.value,
        "items": [item_record(i) for i in train.items],
        "answer": [answer_record(a) for a in train.answer],
        "manifests": [manifest_record(m) for m in train.manifests],
        "permission": None if train.permission is None else permission_record(train.permission),
        "iot_ids": list(train.iot_ids),
        "exited": sorted(train.exited),
        "consist_keys": sorted(train.consist_keys),
        "retire_at": train.retire_at,
        "listed_at": train.listed_at,
        "unit_keys": sorted(train.unit_keys),
    }


def train_from(record: Plain) -> Train:
    permission = record["permission"]
    return Train(
        train_id=record["train_id"],
        operator=record["operator"],
        phase=rail.TrainPhase(record["phase"]),
        items=tuple(item_from(i) for i in record["items"]),
        answer=tuple(answer_from(a) for a in record["answer"]),
        manifests=tuple(manifest_from(m) for m in record["manifests"]),
        permission=None if permission is None else permission_from(permission),
        iot_ids=tuple(record["iot_ids"]),
        exited=frozenset(record["exited"]),
        consist_keys=frozenset(record["consist_keys"]),
        retire_at=record["retire_at"],
        listed_at=record["listed_at"],
        unit_keys=frozenset(record["unit_keys"]),
    )
