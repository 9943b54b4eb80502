"""Which records decide a family's claims, and how they are read: the protocol and seeds the analysis fixed
in advance (a confirmatory replication's fresh seeds, with the exploratory half beside them; or the
family's fixed seeds under the full protocol once every role has them, the quick screen until then),
the roles on each half, the readings and Holm's correction across a family's tests."""

from __future__ import annotations

from benchmark.reports.claim_tests import (MIN_SEEDS, Claim, _rows, claim_a, claim_b, claim_c, claim_d, claim_e,
                                           failure_notes, lwf_role)
from benchmark.stats import holm


def _role_names(roles: dict) -> list[str]:
    """The entries a family's claim tests use: every role, and the low-data pairs (their `also` aside)."""
    names = [n for v in roles.values() for n in (v if isinstance(v, list) else [v]) if isinstance(n, str)]
    return names + [n for pair in roles.get("low_data", {}).values() for k, n in pair.items() if k != "also"]


def _tested_roles(roles: dict, lwf: str | None) -> dict:
    """A family's roles as its claim tests use them: (c)'s LwF is `lwf` (the one tested), the other one left out."""
    out = dict(roles)
    if lwf:
        out["lwf"] = lwf
    out.pop("lwf_front", None)
    return out


def _tested_lwf(claims: list[Claim]) -> str | None:
    """The LwF entry claim (c) tested among these claims."""
    return next((c.lwf for c in claims if c.key == "c" and c.lwf), None)


def verdict_protocol(agg, family: dict, screen: str) -> str:
    """The protocol the family's verdicts come from: the analysis' (the full protocol) once every role its claim
    tests use has its records at the fixed seeds, else the study's own (the screen). The roles are the ones the
    tests would use there: (c)'s LwF is the front where the front has them all (`lwf_role`), and the LwF the
    tests leave aside is not waited for."""
    wanted = (family.get("analysis") or {}).get("protocol")
    if not wanted or wanted == screen:
        return screen
    rows = _rows(agg, wanted, family.get("seeds"))
    names = _role_names(_tested_roles(family["roles"], lwf_role(rows, family["roles"])[0]))
    need = family.get("seeds") or MIN_SEEDS
    return wanted if all(n in rows and len(rows[n]["seeds"]) >= need for n in names) else screen


def _family_claims(rows, family: dict, roles: dict) -> list[Claim]:
    """Claims (a)-(d), and (e) where the family has its role, on one protocol's rows, read as the family's analysis
    says (readings of (b), the margin of (c) and (e), Holm)."""
    analysis = family.get("analysis") or {}
    margin = analysis.get("margin")
    claims = [claim_a(rows, roles),
              claim_b(rows, roles, tuple(analysis.get("b_readings", ["steps"])), analysis.get("b_verdict", "steps")),
              claim_c(rows, roles, margin), claim_d(rows, roles)]
    if margin is not None and roles.get("lwf_self"):
        claims.append(claim_e(rows, roles, margin))
    for claim in claims:
        claim.notes += failure_notes(rows, claim)
    if analysis.get("multiple_comparisons") == "holm":
        tests = [t for c in claims for t in c.tests if t.decides and t.p is not None]
        for t, adj in zip(tests, holm([t.p for t in tests])):
            t.p_adjusted, t.alpha = adj, analysis.get("alpha", 0.05)
    return claims


def halves(family: dict) -> tuple[range, range] | None:
    """A confirmatory family's exploratory and confirmatory seeds (None for a family without the design)."""
    n, m = family.get("exploratory_seeds"), family.get("confirmatory_seeds")
    if not m:
        return None
    return range(0, n), range(n, n + m)


def exploratory_roles(family: dict) -> dict:
    """The roles on the exploratory seeds: where a role is new to the confirmatory analysis, the entry that played it
    before (`claims.exploratory_roles`); a role with no such entry is missing there."""
    roles = dict(family["roles"])
    for key, value in (family.get("exploratory_roles") or {}).items():
        if key in roles:
            roles[key] = value
    return roles


def confirmatory_claims(agg, family: dict, screen: str) -> list[Claim]:
    """A confirmatory family: the verdicts from the confirmatory seeds alone under the analysis' protocol; beside
    them (in `family`) the same tests on the exploratory seeds, and under the screen on the confirmatory seeds."""
    explo, conf = halves(family)
    protocol = (family.get("analysis") or {}).get("protocol") or screen
    family["verdict_protocol"] = protocol
    claims = _family_claims(_rows(agg, protocol, seeds=conf), family, family["roles"])
    family["exploratory"] = _family_claims(_rows(agg, protocol, seeds=explo), family, exploratory_roles(family))
    family["provisional_full"] = None
    family["screen_beside"] = None
    if protocol != screen:
        rows = _rows(agg, screen, seeds=conf)
        if any(n in rows for n in _role_names(family["roles"])):
            family["screen_beside"] = _family_claims(rows, family, family["roles"])
    return claims


def provisional_full(agg, family: dict, claims: list[Claim]) -> dict | None:
    """The same claims under the analysis' protocol on the seeds it has so far, while the verdicts still come from
    the screen: every role the screen's tests used needs at least MIN_SEEDS seeds there (the LwF the screen tested,
    not the other). Reported beside the verdicts, never instead of them: the switch waits for the fixed seeds."""
    full = (family.get("analysis") or {}).get("protocol")
    if not full or full == family.get("verdict_protocol"):
        return None
    rows = _rows(agg, full, family.get("seeds"))
    roles = _tested_roles(family["roles"], _tested_lwf(claims))
    have = {n: len(rows[n]["seeds"]) if n in rows else 0 for n in _role_names(roles)}
    k = min(have.values()) if have else 0
    out = {"protocol": full, "seeds": k, "need": family.get("seeds"), "have": have,
           "short": sorted(n for n, c in have.items() if c < MIN_SEEDS)}
    if k >= MIN_SEEDS:
        out["claims"] = _family_claims(rows, family, roles)
        # the screen on the same seeds: what the protocol changes, apart from what the seed count changes
        screen = _rows(agg, family["verdict_protocol"], k)
        out["screen_claims"] = _family_claims(screen, family, roles)
        out["screen"] = family["verdict_protocol"]
    return out


def screen_beside(agg, family: dict, claims: list[Claim], screen: str) -> list[Claim] | None:
    """Once a family's verdicts come from the analysis' protocol: the same tests under the screen on the same fixed
    seeds and roles (the LwF the verdict tested), so the page says what the protocol changed. None before."""
    if family.get("verdict_protocol") in (None, screen):
        return None
    roles = _tested_roles(family["roles"], _tested_lwf(claims))
    return _family_claims(_rows(agg, screen, family.get("seeds")), family, roles)


def evaluate_claims(agg, config: dict) -> list[tuple[dict, list[Claim]]]:
    """Each family's claims, read as its analysis (fixed in advance) says: for a confirmatory design, on its
    confirmatory seeds alone (the exploratory half beside them); otherwise on exactly its fixed number of seeds
    (0 .. seeds-1 of every role), from the analysis' protocol once every role has them there."""
    out = []
    for family in config["families"]:
        if "roles" not in family:
            continue
        if halves(family):
            claims = confirmatory_claims(agg, family, config["protocol"])
        else:
            protocol = verdict_protocol(agg, family, config["protocol"])
            family["verdict_protocol"] = protocol
            claims = _family_claims(_rows(agg, protocol, family.get("seeds")), family, family["roles"])
            family["provisional_full"] = provisional_full(agg, family, claims)
            family["screen_beside"] = screen_beside(agg, family, claims, config["protocol"])
        out.append((family, claims))
    return out
