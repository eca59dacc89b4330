"""ISO 3166-1 alpha-2 country codes, for MRNs and vehicle plates."""

from __future__ import annotations

# The 249 officially assigned ISO 3166-1 alpha-2 codes (withdrawn codes such as AN and CS, and
# user-assigned ones such as XK, are not in this set).
_ALPHA2_TABLE = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
"""
ISO_3166_ALPHA2 = frozenset(_ALPHA2_TABLE.split())

# XI is the code the EU and the UK use in customs data (MRNs, EORI numbers) for the UK in
# respect of Northern Ireland; it is user-assigned in ISO 3166 but issued in real MRNs.
MRN_COUNTRIES = ISO_3166_ALPHA2 | {"XI"}

# XK is the code Kosovo's vehicles are registered under in international practice.
PLATE_COUNTRIES = ISO_3166_ALPHA2 | {"XK"}


def country_code(value: object, allowed: frozenset[str] = PLATE_COUNTRIES) -> str:
    """``value`` as an upper-case country code from ``allowed``; ValueError when it is not one.

    This checks an argument (a gate's country setting, a ``--country`` option), not an
    identifier, so it raises a plain ValueError rather than an IdentifierError.

    >>> country_code(" de ")
    'DE'
    >>> country_code("ZZ1")
    Traceback (most recent call last):
        ...
    ValueError: country must be an ISO 3166-1 alpha-2 code such as IT or DE, got 'ZZ1'
    """
    code = value.strip().upper() if isinstance(value, str) else ""
    if code not in allowed:
        raise ValueError(
            f"country must be an ISO 3166-1 alpha-2 code such as IT or DE, got {value!r}"
        )
    return code
