"""Operators' loading lists and manifests, CSV or JSON, and the rail portal's reads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.identifiers import container, ilu
from readers.rail_files import (
    RailFileError,
    check_claims,
    claims,
    loading_list_items,
    manifest_wagons,
    portal_wagons,
)

serials = st.integers(0, 999_999).map(lambda n: f"{n:06d}")
containers = st.builds(lambda s: "TRLU" + s + container.check_digit("TRLU" + s), serials)
ilus = st.builds(lambda s: "TRLA" + s + ilu.check_digit("TRLA" + s), serials)
units = st.one_of(containers, ilus)


@given(st.lists(units, min_size=1, max_size=20, unique=True))
def test_a_loading_list_reads_the_same_from_csv_and_json(codes):
    csv_text = "unit,mrn\n" + "".join(f"{c[:4]} {c[4:10]}-{c[10]},\n" for c in codes)
    json_text = json.dumps({"items": [{"unit": c} for c in codes]})
    from_csv, from_json = loading_list_items(csv_text), loading_list_items(json_text)
    assert from_csv == from_json
    assert [i["itu"]["value"] for i in from_csv] == codes
    assert [i["itu"]["kind"] for i in from_csv] == [
        "ILU" if c[3] == "A" else "CONTAINER" for c in codes
    ]


@given(st.lists(units, min_size=1, max_size=30, unique=True), st.integers(1, 3))
def test_a_manifest_reads_the_same_from_csv_and_json(codes, per_wagon):
    layout = [codes[i : i + per_wagon] for i in range(0, len(codes), per_wagon)]
    rows = ["position,wagon_number,unit,mrn,transport_document"]
    for p, on_wagon in enumerate(layout, start=1):
        rows += [f"{p},3180{p:07d}0,{u},,CIM-{p}" for u in on_wagon]
    document = {
        "wagons": [
            {
                "position": p,
                "wagon_number": f"3180{p:07d}0",
                "units": [{"unit": u} for u in on_wagon],
                "transport_document": f"CIM-{p}",
            }
            for p, on_wagon in enumerate(layout, start=1)
        ]
    }
    from_csv = manifest_wagons("\n".join(rows))
    assert from_csv == manifest_wagons(json.dumps(document))
    assert [[i["value"] for i in w["itus"]] for w in from_csv] == layout


@given(st.text(max_size=200))
def test_any_text_is_parsed_or_refused_with_a_rail_file_error(text):
    messages = []
    for parse in (loading_list_items, manifest_wagons, portal_wagons, claims):
        try:
            parse(text)
        except RailFileError as exc:
            messages.append(str(exc))
    assert all(messages), "every refusal says what is wrong"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unit\nTRLU0001000\n\n,\nXX", None),
        ("position,wagon_number\n1,3180", "line 1: the header lacks the column(s) unit"),
        ("position,wagon_number,unit\nfirst,31,TRLU0001000", "line 2: position 'first'"),
        (
            "position,wagon_number,unit\n1,318000000010,A\n1,318000000028,B",
            "line 3: position 1 is wagon 318000000010 on an earlier line, 318000000028 here",
        ),
        ('{"wagons": [{"position": 1, "units": [{"unit": "X", "kind": "BOX"}]}]}', "kind 'BOX'"),
        ('{"wagons": [1,', "line 1, column 15: not JSON"),
        ('{"wagons": [{"position": 1, "mrns": 1}]}', r"wagons\[0\]\.mrns: expected a list"),
    ],
)
def test_shape_errors_name_the_line_or_field(text, message):
    if message is None:
        assert len(loading_list_items(text)) == 2
        return
    with pytest.raises(RailFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        manifest_wagons(text)


def test_portal_reads_keep_train_order_and_every_code():
    lines = [
        {"wagon": {"number": "318000000028", "position": 2}, "containers": [], "ilus": []},
        {
            "wagon": {"number": "318000000010", "position": 1},
            "containers": [{"code": "TRLU0001000", "confidence": 0.7}],
            "ilus": [{"code": "TRLA0001000", "confidence": 0.9}],
        },
    ]
    wagons = portal_wagons("".join(json.dumps(x) + "\n" for x in lines))
    assert [w["position"] for w in wagons] == [1, 2]
    assert wagons[0]["itus_read"] == ["TRLU0001000", "TRLA0001000"]
    assert wagons[0]["confidence"] == 0.7
    with pytest.raises(RailFileError, match="line 1: not a rail portal wagon read"):
        portal_wagons('{"containers": []}\n')


def test_spreadsheet_exports_with_semicolons_and_a_byte_order_mark_are_read():
    text = "\ufeffunit;mrn\nTRLU0001000;26IT000000000001R4\n"
    [item] = loading_list_items(text)
    assert (item["itu"]["value"], item["mrn"]) == ("TRLU0001000", "26IT000000000001R4")


def test_a_json_manifest_takes_each_units_mrn_into_its_wagons():
    document = {
        "wagons": [
            {
                "position": 1,
                "wagon_number": "31 83 4478 341-6",
                "itus": [{"kind": "CONTAINER", "value": "TRLU0001000", "mrn": "26IT0000000001R4"}],
                "mrns": ["26IT0000000002R3"],
            }
        ]
    }
    [wagon] = manifest_wagons(json.dumps(document))
    assert wagon["wagon_number"] == "318344783416"
    assert wagon["mrns"] == ["26IT0000000002R3", "26IT0000000001R4"]


def test_the_documented_formats_name_no_operator_nor_train_and_are_sent_for_anyone():
    for text in (
        "unit,mrn\nTRLU1000018,26IT000000900001R2\n",
        '{"items": [{"unit": "TRLU1000018"}]}',
        '[{"unit": "TRLU1000018"}]',
        "position,wagon_number,unit\n1,318344783416,TRLU1000018\n",
        '{"wagons": [{"position": 1, "wagon_number": "318344783416", "units": []}]}',
    ):
        assert claims(text) == {"operator": (), "train": ()}
        check_claims(text, operator="op-one", train_id="IT-1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"operator": "op-two", "items": []}',
            "names rail operator op-two: it is sent for op-one",
        ),
        ("unit,operator\nTRLU1000018,op-one\nTRLU1000023,op-two\n", "rail operator op-two:"),
        ('{"train_id": "IT-2", "wagons": []}', "names train IT-2, and it is sent for train IT-1"),
        ("position,wagon_number,unit,train\n1,318344783416,X,IT-9\n", "names train IT-9"),
        ('{"operator": {"name": "op-one"}}', "operator: expected a text"),
    ],
)
def test_a_file_naming_another_operator_or_train_is_refused_saying_which(text, message):
    with pytest.raises(RailFileError, match=message):
        check_claims(text, operator="op-one", train_id="IT-1")


def test_a_file_naming_its_own_operator_and_train_is_sent():
    # A record as on the wire names both (case aside): its own, so it is sent.
    answer = {"train_id": "IT-1", "operator": "OP-ONE", "items": [{"unit": "TRLU1000018"}]}
    check_claims(json.dumps(answer), operator="op-one", train_id="IT-1")
    check_claims("unit,operator,train_id\nTRLU1000018,op-one,IT-1\n", operator="op-one",
                 train_id="IT-1")  # fmt: skip
