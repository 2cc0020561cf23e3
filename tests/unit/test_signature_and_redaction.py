import pytest

from fareroom.gateway.log import redact
from fareroom.gateway.signature import SignatureInvalid, sign, verify
from fareroom.kit.ids import has_prefix, new_id


def test_a_signature_verifies_within_tolerance_and_not_after() -> None:
    body = b'{"id":"evt_1"}'
    header = sign("whsec", body, 1_000)
    verify("whsec", body, header, now=1_100)
    with pytest.raises(SignatureInvalid):
        verify("whsec", body, header, now=1_301)
    with pytest.raises(SignatureInvalid):
        verify("other", body, header, now=1_000)
    with pytest.raises(SignatureInvalid):
        verify("whsec", body + b" ", header, now=1_000)
    with pytest.raises(SignatureInvalid):
        verify("whsec", body, "garbage", now=1_000)


def test_redaction_masks_card_numbers_and_secret_keys() -> None:
    out = redact(
        {
            "description": "card 4242 4242 4242 4242 please",
            "api_key": "sk_live_x",
            "nested": [{"number": "4000000000000002"}],
            "amount": 100,
        }
    )
    assert "4242" not in str(out) and "sk_live" not in str(out)
    assert "4000000000000002" not in str(out)
    assert out["amount"] == 100


def test_ids_are_prefixed_unique_and_time_ordered() -> None:
    ids = [new_id("pay") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(has_prefix(i, "pay") for i in ids)
    assert ids[0][:14] <= ids[-1][:14]
