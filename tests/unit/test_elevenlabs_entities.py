"""Unit tests for dalston.elevenlabs.entities: ElevenLabs entity detection and redaction."""

from __future__ import annotations

import pytest

from dalston.elevenlabs.entities import (
    CATEGORIES,
    DETECTABLE,
    ENTITY_TYPES,
    EntityError,
    check_redaction,
    detect,
    markers,
    parse_entity_selection,
    parse_redaction_mode,
    redact,
)

# The example from the ElevenLabs entity-detection guide, with its documented offsets.
DOC_TEXT = (
    "My name is Jill. My date of birth is the 12th of July 1987, and my credit card "
    "number is 4242-4242-4242-4242."
)
ALL = frozenset(ENTITY_TYPES)


def found(text, selection=ALL):
    return [(e["text"], e["entity_type"]) for e in detect(text, set(selection))]


# --------------------------------------------------------------------------------------
# Selection parsing: every encoding the SDKs send
# --------------------------------------------------------------------------------------


def test_python_sdk_null_means_absent():
    assert parse_entity_selection(["null"]) is None
    assert parse_entity_selection([]) is None
    assert parse_entity_selection(None) is None
    assert parse_entity_selection([""]) is None


def test_python_sdk_json_string_and_list():
    assert parse_entity_selection(['"all"']) == set(ENTITY_TYPES)
    assert parse_entity_selection(['["pii", "phi"]']) == CATEGORIES["pii"] | CATEGORIES["phi"]
    assert parse_entity_selection(['"email_address"']) == {"email_address"}
    assert parse_entity_selection(["[]"]) is None


def test_js_sdk_repeated_plain_fields():
    assert parse_entity_selection(["pii", "phi"]) == CATEGORIES["pii"] | CATEGORIES["phi"]
    assert parse_entity_selection(["ssn", "email_address"]) == {"ssn", "email_address"}


def test_realtime_comma_lists_and_plain_all():
    assert parse_entity_selection(["pii,pci"]) == CATEGORIES["pii"] | CATEGORIES["pci"]
    assert parse_entity_selection(["ssn, url"]) == {"ssn", "url"}
    assert parse_entity_selection("all") == set(ENTITY_TYPES)
    assert parse_entity_selection(["ALL"]) == set(ENTITY_TYPES)


def test_categories_expand_to_their_documented_types():
    assert CATEGORIES["pci"] == {"credit_card", "credit_card_expiration", "cvv"}
    assert CATEGORIES["pci"] <= CATEGORIES["pii"]
    assert {"email_address", "phone_number", "ssn", "dob", "url"} <= CATEGORIES["pii"]
    assert "condition" in CATEGORIES["phi"]
    assert "routing_number" in CATEGORIES["other"]
    assert CATEGORIES["offensive_language"] == {
        "very_offensive_language",
        "less_offensive_language",
    }
    assert DETECTABLE <= ENTITY_TYPES


@pytest.mark.parametrize(
    "values, fragment",
    [
        (["pi"], "unknown entity type or category 'pi'"),
        (['["pii", "nope"]'], "'nope'"),
        (['["pii"'], "not valid JSON"),
        (["[1, 2]"], "string or a list of strings"),
        (['{"a": 1}'], "unknown entity type"),
    ],
)
def test_unknown_or_malformed_selection_is_refused(values, fragment):
    with pytest.raises(EntityError) as caught:
        parse_entity_selection(values, param="entity_redaction")
    assert fragment in caught.value.message
    assert caught.value.param == "entity_redaction"


def test_redaction_must_be_a_subset_of_detection():
    check_redaction({"ssn", "email_address"}, {"ssn"})
    check_redaction({"ssn"}, None)
    check_redaction(None, None)
    with pytest.raises(EntityError) as caught:
        check_redaction({"ssn"}, {"ssn", "phone_number"})
    assert caught.value.param == "entity_redaction"
    assert "phone_number" in caught.value.message
    with pytest.raises(EntityError):
        check_redaction(None, {"ssn"})


def test_redaction_mode_defaults_and_validation():
    assert parse_redaction_mode(None) == "enumerated_entity_type"
    assert parse_redaction_mode("") == "enumerated_entity_type"
    assert parse_redaction_mode("entity_type") == "entity_type"
    with pytest.raises(EntityError) as caught:
        parse_redaction_mode("masked")
    assert caught.value.param == "entity_redaction_mode"


# --------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------


def test_the_documented_example_gives_the_documented_offsets():
    entities = detect(DOC_TEXT, set(CATEGORIES["pii"]))
    assert entities == [
        {"text": "12th of July 1987", "entity_type": "dob", "start_char": 41, "end_char": 58},
        {
            "text": "4242-4242-4242-4242",
            "entity_type": "credit_card",
            "start_char": 89,
            "end_char": 108,
        },
    ]


@pytest.mark.parametrize(
    "text, value, kind",
    [
        (
            "write to jill.smith+stt@example.co.uk today",
            "jill.smith+stt@example.co.uk",
            "email_address",
        ),
        ("it is jill at example dot com okay", "jill at example dot com", "email_address"),
        ("call (555) 123-4567 now", "(555) 123-4567", "phone_number"),
        ("call 555-123-4567 now", "555-123-4567", "phone_number"),
        ("call 555 123 4567 now", "555 123 4567", "phone_number"),
        ("call 1 800 555 0199 now", "1 800 555 0199", "phone_number"),
        ("call +44 20 7946 0958 now", "+44 20 7946 0958", "phone_number"),
        ("call 020 7946 0958 now", "020 7946 0958", "phone_number"),
        ("call 555-1234 now", "555-1234", "phone_number"),
        ("card 4111 1111 1111 1111 ok", "4111 1111 1111 1111", "credit_card"),
        ("amex 3782 822463 10005 ok", "3782 822463 10005", "credit_card"),
        ("card 4242424242424242 ok", "4242424242424242", "credit_card"),
        ("ssn 123-45-6789 ok", "123-45-6789", "ssn"),
        ("my social security number is 123456789", "123456789", "ssn"),
        ("host 192.168.0.1.", "192.168.0.1", "ip_address"),
        ("host 2001:db8::1 up", "2001:db8::1", "ip_address"),
        (
            "iban GB82 WEST 1234 5698 7654 32 and more",
            "GB82 WEST 1234 5698 7654 32",
            "bank_account",
        ),
        ("iban DE89370400440532013000.", "DE89370400440532013000", "bank_account"),
        ("see https://example.com/a?b=1.", "https://example.com/a?b=1", "url"),
        ("see www.dalston.io, thanks", "www.dalston.io", "url"),
        ("see example.org for more", "example.org", "url"),
        ("I was born on March 3rd, 1990 in Leeds", "March 3rd, 1990", "dob"),
        ("DOB 03/04/1990", "03/04/1990", "dob"),
        ("we met on 2024-03-05 there", "2024-03-05", "date"),
        ("on the 4th of July we", "4th of July", "date"),
        ("the card expires 04/27 so", "04/27", "credit_card_expiration"),
        ("expiration date is July 2027", "July 2027", "credit_card_expiration"),
        ("the CVV is 737 okay", "737", "cvv"),
        ("security code: 1234", "1234", "cvv"),
        ("it costs $1,200.50 now", "$1,200.50", "money"),
        ("it costs 30 dollars now", "30 dollars", "money"),
        ("a 15% cut", "15%", "percent"),
        ("a 2.5 percent cut", "2.5 percent", "percent"),
        ("at 3:30 pm today", "3:30 pm", "time"),
        ("at 5 a.m. today", "5 a.m", "time"),
        ("at 14:05 today", "14:05", "time"),
    ],
)
def test_each_entity_type_is_found_at_its_offsets(text, value, kind):
    entities = detect(text, ALL)
    assert [(e["text"], e["entity_type"]) for e in entities] == [(value, kind)]
    start = text.index(value)
    assert (entities[0]["start_char"], entities[0]["end_char"]) == (start, start + len(value))
    assert text[entities[0]["start_char"] : entities[0]["end_char"]] == value


def test_luhn_rejects_a_bad_card_number():
    assert found("card 4242 4242 4242 4241 ok") == []
    assert found("card 4242 4242 4242 4242 ok") == [("4242 4242 4242 4242", "credit_card")]


@pytest.mark.parametrize(
    "text",
    [
        "ssn 000-12-3456",  # area 000 is never issued
        "ssn 666-12-3456",
        "ssn 923-12-3456",
        "ssn 123-00-4567",
        "ssn 123-45-0000",
        "the number 123456789 alone",  # nine digits without context
        "IBAN GB82 WEST 1234 5698 7654 33",  # checksum fails
        "version 300.1.2.4",  # not an IPv4 address
        "score 1:2:3",  # neither an IPv6 address nor a time
        "in 1987 2020 and 2021",
        "you may 5 things",
        "on 13/13/2020 nothing",
        "I have 2 amazing kids",
    ],
)
def test_lookalikes_are_not_reported(text):
    assert found(text) == []


def test_a_phone_number_followed_by_another_number_is_still_found():
    assert found("call 555-123-4567 2 times") == [("555-123-4567", "phone_number")]


def test_selection_filters_without_relabelling_other_numbers():
    text = "card 4242 4242 4242 4242 or phone 555 123 4567"
    assert found(text, {"phone_number"}) == [("555 123 4567", "phone_number")]
    assert found(text, CATEGORIES["pci"]) == [("4242 4242 4242 4242", "credit_card")]
    assert found(text, set()) == []
    assert detect(text, None) == []


def test_a_date_of_birth_is_a_date_when_only_dates_are_selected():
    text = "born on 12 May 1990 and married on 3 June 2015"
    assert found(text) == [("12 May 1990", "dob"), ("3 June 2015", "date")]
    assert found(text, {"date"}) == [("12 May 1990", "date"), ("3 June 2015", "date")]
    assert found(text, {"dob"}) == [("12 May 1990", "dob")]


def test_email_is_not_also_reported_as_a_url():
    assert found("mail ops@dalston.io now") == [("ops@dalston.io", "email_address")]


def test_undetectable_types_are_accepted_but_find_nothing():
    assert found("Dr. Jill Smith has asthma", {"name", "condition"}) == []


# --------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------

REDACT_TEXT = "Mail a@b.com or 555 123 4567, then a@b.com again; card 4242 4242 4242 4242."


def test_redaction_modes_use_the_documented_markers():
    entities = detect(REDACT_TEXT, ALL)
    assert redact(REDACT_TEXT, entities, "redacted") == (
        "Mail {REDACTED} or {REDACTED}, then {REDACTED} again; card {REDACTED}."
    )
    assert redact(REDACT_TEXT, entities, "entity_type") == (
        "Mail {EMAIL_ADDRESS} or {PHONE_NUMBER}, then {EMAIL_ADDRESS} again; card {CREDIT_CARD}."
    )
    assert redact(REDACT_TEXT, entities) == (
        "Mail {EMAIL_ADDRESS_0} or {PHONE_NUMBER_0}, then {EMAIL_ADDRESS_0} again; "
        "card {CREDIT_CARD_0}."
    )


def test_enumeration_counts_per_type_and_reuses_a_value_number():
    text = "call 555 123 4567, 555 987 6543 or (555) 123-4567"
    entities = detect(text, {"phone_number"})
    assert markers(entities) == ["{PHONE_NUMBER_0}", "{PHONE_NUMBER_1}", "{PHONE_NUMBER_0}"]
    assert redact(text, entities) == "call {PHONE_NUMBER_0}, {PHONE_NUMBER_1} or {PHONE_NUMBER_0}"


def test_redacting_a_subset_leaves_other_entities():
    entities = [e for e in detect(REDACT_TEXT, ALL) if e["entity_type"] in {"credit_card"}]
    assert redact(REDACT_TEXT, entities, "entity_type") == (
        "Mail a@b.com or 555 123 4567, then a@b.com again; card {CREDIT_CARD}."
    )
    assert redact(REDACT_TEXT, [], "redacted") == REDACT_TEXT


def test_redact_refuses_entities_that_do_not_match_the_text():
    bad = [{"text": "zzz", "entity_type": "ssn", "start_char": 0, "end_char": 3}]
    with pytest.raises(ValueError):
        redact(REDACT_TEXT, bad)
    with pytest.raises(EntityError):
        redact(REDACT_TEXT, [], "masked")
