"""Model aliases through the real server and the official SDKs: an alias is served by its
model, listed, and seen by scopes and limits as the model's own name."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.conftest import Gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import FakeUpstream
from tests.integration.test_client_keys import Home, create_client, make_home

KEY = "sk-test-aliases-" + "a" * 24
MESSAGES = [{"role": "user", "content": "hello alias"}]


class Setup:
    def __init__(self, home: Home, gw: Gateway, fake: FakeUpstream, scoped: str,
                 limited: str) -> None:
        self.home, self.gw, self.fake, self.scoped, self.limited = \
            home, gw, fake, scoped, limited

    def sdk(self, token: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gw.url + "/v1", api_key=token, max_retries=0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("aliases")
    fake = FakeUpstream("an", api_key=KEY, kind="anthropic").start()
    home = make_home(tmp)
    scoped = create_client(home, "scoped", "--models", "sonnet")
    limited = create_client(home, "limited")
    config = (GatewayConfig()
              .provider("an", "anthropic", base_url=fake.url, secret="env:ALIAS_KEY")
              .model("sonnet", deployment("an", "claude-sonnet-4-5"),)
              .model("opus", deployment("an", "claude-opus-4-1"))
              .toml())
    config = config.replace('name = "sonnet"\n', 'name = "sonnet"\naliases = '
                            '["claude-sonnet-4-5-20250929", "claude-*-4-5*"]\n', 1)
    config = config.replace('name = "opus"\n', 'name = "opus"\naliases = ["claude-opus-4-1"]\n',
                            1)
    config += '\n[[limits.models]]\nname = "opus"\nrpm = 2\n'
    home.env["ALIAS_KEY"] = KEY
    gw = home.serve(tmp, config=config)
    yield Setup(home, gw, fake, scoped, limited)
    stop_gateway(gw)
    fake.stop()


def test_an_exact_alias_and_a_pattern_are_served_by_the_model(setup: Setup) -> None:
    client = anthropic.Anthropic(base_url=setup.gw.url, api_key=setup.limited, max_retries=0)
    for asked in ("claude-sonnet-4-5-20250929",):
        raw = client.messages.with_raw_response.create(model=asked, max_tokens=20,
                                                       messages=MESSAGES)
        assert raw.headers["x-gateway-deployment"] == "an/claude-sonnet-4-5"
    assert setup.fake.requests[-1].json is not None
    assert setup.fake.requests[-1].json["model"] == "claude-sonnet-4-5"


def test_a_pattern_alias(setup: Setup) -> None:
    raw = setup.sdk(setup.scoped).chat.completions.with_raw_response.create(
        model="claude-haiku-4-5", messages=MESSAGES)
    assert raw.headers["x-gateway-deployment"] == "an/claude-sonnet-4-5"


def test_the_list_shows_exact_aliases(setup: Setup) -> None:
    names = [m.id for m in setup.sdk(setup.limited).models.list()]
    assert {"sonnet", "opus", "claude-sonnet-4-5-20250929"} <= set(names)
    scoped = [m.id for m in setup.sdk(setup.scoped).models.list()]
    assert set(scoped) == {"sonnet", "claude-sonnet-4-5-20250929"}


def test_a_key_scoped_to_the_model_may_use_its_aliases_and_nothing_else(setup: Setup) -> None:
    client = setup.sdk(setup.scoped)
    client.chat.completions.create(model="claude-sonnet-4-5-20250929", messages=MESSAGES)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="opus", messages=MESSAGES)


def test_limits_count_an_alias_as_the_model(setup: Setup) -> None:
    client = setup.sdk(setup.limited)
    client.chat.completions.create(model="opus", messages=MESSAGES)
    client.chat.completions.create(model="claude-opus-4-1", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="claude-opus-4-1", messages=MESSAGES)
    assert "model 'opus'" in str(info.value)


def test_an_unknown_name_is_still_a_404(setup: Setup) -> None:
    with pytest.raises(openai.NotFoundError):
        setup.sdk(setup.limited).chat.completions.create(model="gpt-4o", messages=MESSAGES)
