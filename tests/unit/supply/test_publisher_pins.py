"""Publisher pinning: trust on first use, then every change needs a person's consent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway_cli.supply.pins import Observation, reconcile, same_publisher
from gateway_cli.supply.provenance import PublisherPin

SIGSTORE = PublisherPin("GitHub", "sigstore/sigstore-python", "release.yml")
FORK = PublisherPin("GitHub", "attacker/sigstore-python", "release.yml")
OTHER_WORKFLOW = PublisherPin("GitHub", "sigstore/sigstore-python", "nightly.yml")
WITH_ENV = PublisherPin("GitHub", "sigstore/sigstore-python", "release.yml", "pypi")
GITLAB = PublisherPin("GitLab", "facutuesca/gitlab-oidc-project", ".gitlab-ci.yml")
# Illustrative: the simulation needs *a* trusted publisher for litellm.
LITELLM = PublisherPin("GitHub", "BerriAI/litellm", "publish.yml")


def seen(project: str, publisher: PublisherPin | None,
         filename: str = "pkg-1.0.tar.gz") -> Observation:
    return Observation(project, filename, publisher)


def test_first_sight_pins_the_verified_publisher() -> None:
    update = reconcile({}, [seen("sigstore", SIGSTORE, "sigstore-3.6.1.tar.gz"),
                            seen("gitlab-oidc-project", GITLAB)])
    assert update.ok
    assert update.pins == {"gitlab-oidc-project": GITLAB, "sigstore": SIGSTORE}
    assert update.new == ("gitlab-oidc-project", "sigstore")


def test_first_sight_without_provenance_pins_nothing() -> None:
    update = reconcile({}, [seen("rfc8785", None)])
    assert update.ok
    assert update.pins == {}


def test_same_publisher_keeps_the_pin() -> None:
    update = reconcile({"sigstore": SIGSTORE}, [seen("sigstore", SIGSTORE)])
    assert update.ok
    assert update.pins == {"sigstore": SIGSTORE}
    assert (update.new, update.changed, update.dropped) == ((), (), ())


def test_another_repository_is_refused() -> None:
    update = reconcile({"sigstore": SIGSTORE}, [seen("sigstore", FORK, "sigstore-3.7.0.tar.gz")])
    assert not update.ok
    (refusal,) = update.refusals
    assert refusal.kind == "publisher-changed"
    assert refusal.filename == "sigstore-3.7.0.tar.gz"
    assert "attacker/sigstore-python" in refusal.message
    assert "sigstore/sigstore-python" in refusal.message
    assert "--accept-change sigstore" in refusal.message
    assert update.pins == {"sigstore": SIGSTORE}


def test_another_workflow_is_refused() -> None:
    update = reconcile({"sigstore": SIGSTORE}, [seen("sigstore", OTHER_WORKFLOW)])
    assert [r.kind for r in update.refusals] == ["publisher-changed"]
    assert "nightly.yml" in update.refusals[0].message


def test_accepted_change_re_pins() -> None:
    update = reconcile({"sigstore": SIGSTORE}, [seen("sigstore", FORK)], accepted={"Sigstore"})
    assert update.ok
    assert update.pins == {"sigstore": FORK}
    assert update.changed == ("sigstore",)


def test_litellm_case_pinned_project_losing_provenance_is_refused() -> None:
    update = reconcile({"litellm": LITELLM},
                       [seen("litellm", None, "litellm-1.82.7-py3-none-any.whl")])
    assert not update.ok
    (refusal,) = update.refusals
    assert refusal.kind == "provenance-dropped"
    assert "litellm-1.82.7-py3-none-any.whl has NO provenance" in refusal.message
    assert "BerriAI/litellm" in refusal.message
    assert "--accept-change litellm" in refusal.message
    assert update.pins == {"litellm": LITELLM}


def test_accepted_loss_of_provenance_drops_the_pin() -> None:
    update = reconcile({"litellm": LITELLM}, [seen("litellm", None)], accepted={"litellm"})
    assert update.ok
    assert update.pins == {}
    assert update.dropped == ("litellm",)


def test_one_artifact_without_provenance_beside_attested_ones_is_refused() -> None:
    update = reconcile({}, [seen("sigstore", SIGSTORE, "sigstore-3.6.1.tar.gz"),
                            seen("sigstore", None, "sigstore-3.6.1-py3-none-any.whl")])
    assert [(r.kind, r.filename) for r in update.refusals] == [
        ("provenance-dropped", "sigstore-3.6.1-py3-none-any.whl")]
    assert update.pins == {}


def test_two_publishers_for_one_project_are_refused_even_if_accepted() -> None:
    update = reconcile({}, [seen("sigstore", SIGSTORE, "a.tar.gz"),
                            seen("sigstore", FORK, "b.whl")], accepted={"sigstore"})
    assert [r.kind for r in update.refusals] == ["publishers-disagree"]
    assert "remove the artifact that does not belong" in update.refusals[0].message


def test_environment_seen_for_the_first_time_tightens_the_pin() -> None:
    update = reconcile({"sigstore": SIGSTORE}, [seen("sigstore", WITH_ENV)])
    assert update.ok
    assert update.pins == {"sigstore": WITH_ENV}
    assert update.changed == ("sigstore",)


def test_pinned_environment_disappearing_is_refused() -> None:
    update = reconcile({"sigstore": WITH_ENV}, [seen("sigstore", SIGSTORE)])
    assert [r.kind for r in update.refusals] == ["publisher-changed"]


def test_projects_not_in_the_lock_keep_their_pins() -> None:
    # A dependency removed and later re-added without provenance must still be caught.
    update = reconcile({"litellm": LITELLM}, [seen("sigstore", SIGSTORE)])
    assert update.pins == {"litellm": LITELLM, "sigstore": SIGSTORE}


def test_names_are_normalised() -> None:
    update = reconcile({"Sigstore": SIGSTORE}, [seen("SIGSTORE", FORK)])
    assert [r.project for r in update.refusals] == ["sigstore"]


def test_same_publisher_ignores_environment_only_when_the_pin_has_none() -> None:
    assert same_publisher(SIGSTORE, WITH_ENV)
    assert not same_publisher(WITH_ENV, SIGSTORE)
    assert not same_publisher(SIGSTORE, FORK)
    assert not same_publisher(SIGSTORE, OTHER_WORKFLOW)


publishers = st.sampled_from([SIGSTORE, FORK, OTHER_WORKFLOW, WITH_ENV, GITLAB, None])
projects = st.sampled_from(["a", "b", "c"])


@given(pinned=st.dictionaries(projects, publishers.filter(lambda p: p is not None)),
       observed=st.lists(st.tuples(projects, publishers), max_size=6))
def test_no_pin_changes_without_consent(pinned: dict[str, PublisherPin],
                                        observed: list[tuple[str, PublisherPin | None]]) -> None:
    update = reconcile(pinned, [seen(p, pub, f"{p}-{i}.tar.gz")
                                for i, (p, pub) in enumerate(observed)])
    for project, pin in pinned.items():
        # Without --accept-change a pin is kept, or only tightened with an environment.
        assert project in update.pins
        assert same_publisher(pin, update.pins[project])
        got = [pub for p, pub in observed if p == project]
        if None in got or any(pub is not None and not same_publisher(pin, pub) for pub in got):
            assert any(r.project == project for r in update.refusals)
