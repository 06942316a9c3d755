from payouts import fees


def test_fee_rounds_half_up_with_minimum():
    assert fees.fee_cents(3, rate_bp=2000, minimum_cents=1) == 1
    assert fees.fee_cents(13, rate_bp=2000, minimum_cents=1) == 3
