"""The compatibility layer for the Python original's own plugins (button_control,
email_summarizer, hermes, homeassistant, hourly_recap, swiggy_instamart, test_button_actions,
test_event): what they import resolves under `advanced_omi_backend.*` and `backend.*` to the
same objects, behaves as they expect, and what this host cannot do raises NotImplementedError
naming the feature."""

import asyncio
import importlib
import json
import queue
import subprocess
import sys
import threading
import unittest
from datetime import datetime, timezone
from pathlib import Path

from support import InProcessHost, PluginProcess, PluginsDir, child_env, handle_event_params, initialize_params

import chronicle_plugin
from chronicle_plugin import (
    BasePlugin,
    ButtonActionType,
    ButtonState,
    Conversation,
    ConversationCloseReason,
    PluginContext,
    PluginEvent,
    PluginServices,
    ServiceError,
    User,
)
from chronicle_plugin import host
from chronicle_plugin.base import HANDLER_FOR_EVENT, handled_events
from chronicle_plugin.events import BUTTON_STATE_TO_EVENT, EVENT_DESCRIPTIONS
from chronicle_plugin.jsonrpc import Connection
from chronicle_plugin.llm import async_chat_with_tools, get_llm_client, prompt_from_messages
from chronicle_plugin.messages import initialize_result
from chronicle_plugin.prompts import PromptRegistry, get_prompt_registry
from chronicle_plugin.protocol import ErrorCode, RpcError, to_json_value
from chronicle_plugin.runner import PluginRunner

FIXTURES = Path(__file__).resolve().parent / "original_style_plugins"

# Each module below the original's package that the eight plugins import, with the names they
# take from it (their load-time imports, plus homeassistant's lazy dialogue import).
ORIGINAL_MODULES = {
    "plugins": ["BasePlugin", "PluginContext", "PluginResult", "PluginEvent", "PluginServices", "PluginRouter",
                "PluginConnectivityError", "ButtonState", "ButtonActionType", "ConversationCloseReason",
                "BUTTON_STATE_TO_EVENT", "InteractionContext", "InteractionModeDefinition", "InteractionResult"],
    "plugins.base": ["BasePlugin", "PluginContext", "PluginResult", "PluginConnectivityError"],
    "plugins.events": ["PluginEvent", "ButtonState", "ButtonActionType", "ConversationCloseReason",
                       "BUTTON_STATE_TO_EVENT", "EVENT_DESCRIPTIONS"],
    "plugins.services": ["PluginServices"],
    "plugins.router": ["PluginRouter", "PluginHealth", "ConditionResult", "normalize_text_for_wake_word",
                       "extract_command_after_wake_word", "extract_command_around_keyword"],
    "models": ["Conversation", "User"],
    "models.conversation": ["Conversation"],
    "models.user": ["User"],
    "database": ["get_database"],
    "llm_client": ["async_generate", "async_chat_with_tools", "get_llm_client", "reset_llm_client", "LLMClient"],
    "prompt_registry": ["get_prompt_registry", "PromptRegistry"],
    "openai_factory": ["model_supports_temperature"],
    "utils.logging_utils": ["mask_dict", "mask_string", "is_secret_field", "SECRET_MASK"],
    "utils.user_time": ["format_user_datetime", "in_user_timezone"],
    "services.voice_latency": ["timing_span"],
    "services.interaction_modes": ["normalize_interaction_text", "InteractionModeDefinition"],
    "services.interaction_modes.registry": ["normalize_interaction_text"],
    "services.interaction_modes.contracts": ["InteractionContext", "InteractionModeDefinition", "InteractionResult"],
    "services.dialogue.capture": ["from_plugin"],
    "integrations.swiggy": ["FileTokenStore", "Server", "SwiggyAuthError", "SwiggyClient", "SwiggyError",
                            "search_products"],
    "integrations.swiggy.payment_job": ["enqueue_instamart_payment_monitor"],
}

# The import statements of each of the eight plugins that reach the original's package (their
# third-party imports, httpx, aiosqlite, bson and python-dotenv, come from the plugin's venv).
PLUGIN_IMPORTS = {
    "button_control": [
        "from advanced_omi_backend.plugins.base import BasePlugin, PluginContext, PluginResult",
        "from advanced_omi_backend.plugins.events import ButtonActionType, ConversationCloseReason, PluginEvent",
    ],
    "email_summarizer": [
        "from advanced_omi_backend.database import get_database",
        "from advanced_omi_backend.models.conversation import Conversation",
        "from advanced_omi_backend.models.user import User",
        "from advanced_omi_backend.plugins.base import BasePlugin, PluginContext, PluginResult",
        "from advanced_omi_backend.utils.logging_utils import mask_dict",
        "from advanced_omi_backend.utils.user_time import format_user_datetime",
    ],
    "hermes": [
        "from advanced_omi_backend.plugins.base import BasePlugin, PluginConnectivityError, PluginContext, PluginResult",
        "from advanced_omi_backend.services.voice_latency import timing_span",
    ],
    "homeassistant": [
        "from advanced_omi_backend.llm_client import get_llm_client",
        "from advanced_omi_backend.openai_factory import model_supports_temperature",
        "from advanced_omi_backend.plugins.base import BasePlugin, PluginConnectivityError, PluginContext, PluginResult",
        "from advanced_omi_backend.plugins.events import PluginEvent",
        "from advanced_omi_backend.prompt_registry import get_prompt_registry",
        "from advanced_omi_backend.services.dialogue.capture import from_plugin",
    ],
    "hourly_recap": [
        "from advanced_omi_backend.database import get_database",
        "from advanced_omi_backend.llm_client import async_generate",
        "from advanced_omi_backend.models.conversation import Conversation",
        "from advanced_omi_backend.plugins.base import BasePlugin, PluginContext, PluginResult",
        "from advanced_omi_backend.plugins.events import PluginEvent",
        "from advanced_omi_backend.prompt_registry import get_prompt_registry",
        "from advanced_omi_backend.utils.logging_utils import mask_dict",
        "from advanced_omi_backend.utils.user_time import format_user_datetime",
    ],
    "swiggy_instamart": [
        "from advanced_omi_backend.integrations.swiggy import FileTokenStore, Server, SwiggyAuthError, "
        "SwiggyClient, SwiggyError, search_products",
        "from advanced_omi_backend.integrations.swiggy.payment_job import enqueue_instamart_payment_monitor",
        "from advanced_omi_backend.llm_client import async_chat_with_tools",
        "from advanced_omi_backend.plugins import BasePlugin, InteractionContext, InteractionModeDefinition, "
        "InteractionResult",
        "from advanced_omi_backend.services.interaction_modes.registry import normalize_interaction_text",
    ],
    "test_button_actions": [
        "from advanced_omi_backend.plugins.base import BasePlugin, PluginContext, PluginResult",
        "from advanced_omi_backend.plugins.events import ButtonActionType, ConversationCloseReason, PluginEvent",
    ],
    "test_event": [
        "from advanced_omi_backend.plugins.base import BasePlugin, PluginContext, PluginResult",
    ],
}

# The handler the original's router calls for each event it dispatched.
ORIGINAL_HANDLERS = {
    "transcript.streaming": "on_transcript",
    "transcript.batch": "on_transcript",
    "conversation.complete": "on_conversation_complete",
    "conversation.starred": "on_conversation_starred",
    "memory.processed": "on_memory_processed",
    "button.single_press": "on_button_event",
    "button.double_press": "on_button_event",
    "plugin_action": "on_plugin_action",
    "wake_word.detected": "on_wake_word_detected",
}

# conversation.complete as this host sends it (crates/pipeline/src/finish.rs).
COMPLETE_DATA = {
    "conversation": {
        "client_id": "pendant-1",
        "user_id": "user-1",
        "user_email": "ann@example.com",
        "title": "Groceries",
        "summary": "Milk and eggs.",
        "created_at": "2026-11-25T09:00:00.123Z",
    },
    "transcript": "We need milk and eggs.",
    "duration": 125.0,
    "conversation_id": "conv-1",
}
# wake_word.detected as this host sends it (crates/plugin-api/src/event.rs).
WAKE_DATA = {"command": "what's the weather", "transcript": "what's the weather", "wakeword": "hey chronicle",
             "score": 0.93, "source": "transcript", "asr_status": "transcribed", "session_id": "s-1",
             "client_id": "pendant-1", "conversation_id": None}


def in_event(event, data, metadata=None, user_id="user-1"):
    """Runs the rest of a test as if inside a handler of this event (restored on cleanup)."""
    context = PluginContext(user_id=user_id, event=PluginEvent(event), data=data, metadata=metadata or {})
    return context, host.current_event.set(context)


class BothRootsTest(unittest.TestCase):
    def test_every_module_and_name_imports_under_both_roots_as_the_same_object(self):
        for module_name, names in ORIGINAL_MODULES.items():
            original = importlib.import_module(f"advanced_omi_backend.{module_name}")
            renamed = importlib.import_module(f"backend.{module_name}")
            with self.subTest(module_name):
                self.assertIs(renamed, original)
                self.assertIs(sys.modules[f"backend.{module_name}"], original)
            for name in names:
                with self.subTest(f"{module_name}.{name}"):
                    self.assertIs(getattr(renamed, name), getattr(original, name))

    def test_the_plugin_types_are_the_sdks_own(self):
        from backend.plugins import BasePlugin as RenamedBase, ButtonActionType as RenamedActions
        from backend.models.conversation import Conversation as RenamedConversation

        self.assertIs(RenamedBase, chronicle_plugin.BasePlugin)
        self.assertIs(RenamedActions, chronicle_plugin.ButtonActionType)
        self.assertIs(RenamedConversation, chronicle_plugin.Conversation)
        import advanced_omi_backend
        import backend

        self.assertIs(backend, advanced_omi_backend)

    def test_each_original_plugins_imports_resolve_under_both_roots(self):
        for plugin_id, lines in PLUGIN_IMPORTS.items():
            for line in lines:
                for spelled in (line, line.replace("advanced_omi_backend", "backend", 1)):
                    with self.subTest(plugin_id, statement=spelled):
                        exec(compile(spelled, plugin_id, "exec"), {})

    def test_backend_first_in_a_fresh_interpreter(self):
        """`backend.*` imported before `advanced_omi_backend`, isinstance across the two, and
        a missing module reported under the name that was asked for."""
        program = (
            "import backend.plugins.base as renamed\n"
            "from backend.plugins.base import BasePlugin\n"
            "import advanced_omi_backend.plugins.base as original\n"
            "from advanced_omi_backend.plugins.base import PluginResult\n"
            "assert renamed is original and BasePlugin is original.BasePlugin\n"
            "class P(BasePlugin):\n    pass\n"
            "assert isinstance(P({}), original.BasePlugin)\n"
            "assert original.__spec__.name == 'advanced_omi_backend.plugins.base'\n"
            "try:\n    import backend.no_such_module\n"
            "except ModuleNotFoundError as error:\n    print(error)\n"
        )
        completed = subprocess.run([sys.executable, "-c", program], env=child_env(), capture_output=True,
                                   text=True, timeout=30)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertEqual(completed.stdout.strip(), "No module named 'backend.no_such_module'")


class EventVocabularyTest(unittest.TestCase):
    def test_every_event_has_its_own_description(self):
        descriptions = [event.description for event in PluginEvent]
        self.assertTrue(all(descriptions))
        self.assertEqual(len(set(descriptions)), len(descriptions))
        self.assertEqual(EVENT_DESCRIPTIONS["wake_word.detected"], PluginEvent.WAKE_WORD_DETECTED.description)
        self.assertIs(PluginEvent("wake_word.detected"), PluginEvent.WAKE_WORD_DETECTED)

    def test_button_and_close_vocabularies_carry_the_originals_values(self):
        self.assertEqual(
            {member.name: member.value for member in ButtonActionType},
            {"CLOSE_CONVERSATION": "close_conversation", "STAR_CONVERSATION": "star_conversation",
             "CALL_PLUGIN": "call_plugin", "STOP_PLAYBACK": "stop_playback"},
        )
        self.assertIs(ButtonActionType("stop_playback"), ButtonActionType.STOP_PLAYBACK)
        self.assertEqual([str(reason) for reason in ConversationCloseReason],
                         ["user_requested", "plugin_requested", "button_close"])
        self.assertEqual(BUTTON_STATE_TO_EVENT[ButtonState.SINGLE_PRESS], PluginEvent.BUTTON_SINGLE_PRESS)
        self.assertEqual(BUTTON_STATE_TO_EVENT[ButtonState("DOUBLE_TAP")], "button.double_press")
        self.assertEqual(BUTTON_STATE_TO_EVENT[ButtonState.LONG_PRESS], "button.long_press")

    def test_the_original_handlers_serve_the_original_events(self):
        for event, handler in ORIGINAL_HANDLERS.items():
            with self.subTest(event):
                self.assertEqual(HANDLER_FOR_EVENT[PluginEvent(event)], handler)
                self.assertIsNone(asyncio.run(getattr(BasePlugin({}), handler)(PluginContext("u", event, {}))))

    def test_a_wake_word_handler_is_reported_only_to_a_host_that_subscribed_it(self):
        class Woken(BasePlugin):
            SUPPORTED_ACCESS_LEVELS = ["transcript", "interaction"]

            async def on_transcript(self, context):
                return None

            async def on_wake_word_detected(self, context):
                return None

        self.assertIn(PluginEvent.WAKE_WORD_DETECTED, handled_events(Woken))
        plain = initialize_result(Woken({}), "woken", ["transcript.streaming"])
        self.assertEqual(plain["events"], ["transcript.streaming", "transcript.batch"])
        self.assertEqual(plain["access_levels"], ["transcript"], "unknown levels inform, never refuse")
        subscribed = initialize_result(Woken({}), "woken", ["wake_word.detected"])
        self.assertEqual(subscribed["events"], ["transcript.streaming", "transcript.batch", "wake_word.detected"])


class ConversationModelTest(unittest.IsolatedAsyncioTestCase):
    async def test_the_events_conversation_answers_a_query_pinned_to_it(self):
        in_event("conversation.complete", COMPLETE_DATA, {"end_reason": "user_stopped"})
        conversation = await Conversation.find_one(Conversation.conversation_id == "conv-1")
        self.assertIsInstance(conversation, Conversation)
        self.assertEqual(
            (conversation.conversation_id, conversation.user_id, conversation.client_id, conversation.title,
             conversation.summary, conversation.detailed_summary, conversation.transcript,
             conversation.audio_total_duration, conversation.end_reason, conversation.user_email,
             conversation.deleted),
            ("conv-1", "user-1", "pendant-1", "Groceries", "Milk and eggs.", None, "We need milk and eggs.",
             125.0, "user_stopped", "ann@example.com", False),
        )
        self.assertEqual(conversation.created_at, datetime(2026, 11, 25, 9, 0, 0, 123000, tzinfo=timezone.utc))
        self.assertEqual(await Conversation.get("conv-1"), conversation)
        self.assertIsNone(await Conversation.find_one(Conversation.conversation_id == "conv-1",
                                                       Conversation.starred == True))  # noqa: E712
        found = await Conversation.find(Conversation.conversation_id == "conv-1",
                                        Conversation.created_at >= datetime(2026, 11, 25)).sort(
            -Conversation.created_at).to_list()
        self.assertEqual(found, [conversation])

    async def test_memory_and_star_events_give_their_conversation_too(self):
        in_event("memory.processed", {"memories": ["m-1"], "memory_count": 1, "conversation_id": "conv-2",
                                      "conversation": {"conversation_id": "conv-2", "client_id": "c",
                                                       "user_id": "user-1", "user_email": None}})
        self.assertEqual((await Conversation.get("conv-2")).client_id, "c")
        in_event("conversation.starred", {"conversation_id": "conv-3", "starred": True,
                                          "starred_at": "2026-11-25T10:00:00Z", "title": "Plans"})
        starred = await Conversation.get("conv-3")
        self.assertEqual((starred.starred, starred.title, starred.starred_at.hour), (True, "Plans", 10))

    async def test_wider_queries_raise_not_implemented_naming_the_feature(self):
        in_event("button.double_press", {"state": "DOUBLE_PRESS", "session_id": "s-1", "client_id": "c"})
        query = Conversation.find(Conversation.user_id == "user-1", Conversation.deleted == False)  # noqa: E712
        with self.assertRaisesRegex(NotImplementedError, r"looking up conversations .*user_id == 'user-1'"):
            await query.sort(-Conversation.created_at).to_list()
        in_event("conversation.complete", COMPLETE_DATA)
        with self.assertRaisesRegex(NotImplementedError, "looking up conversations"):
            await Conversation.find_one(Conversation.conversation_id == "another-conversation")

    async def test_the_events_user(self):
        in_event("conversation.complete", COMPLETE_DATA)
        user = await User.get("user-1")
        self.assertEqual((user.id, user.email, user.notification_email, user.timezone),
                         ("user-1", "ann@example.com", "ann@example.com", None))
        with self.assertRaisesRegex(NotImplementedError, "looking up users"):
            await User.get("someone-else")

    async def test_outside_a_handler_nothing_is_known(self):
        host.current_event.set(None)
        with self.assertRaisesRegex(NotImplementedError, "looking up conversations"):
            await Conversation.find_one(Conversation.conversation_id == "conv-1")


class PromptRegistryTest(unittest.IsolatedAsyncioTestCase):
    async def test_the_default_template_comes_back_with_its_variables_filled_in(self):
        registry = PromptRegistry()
        registry.register_default("plugin.x.summary", template="In {{n}} sentences, {{ who }}: {{other}}",
                                  name="Summary", description="d", category="plugin", is_dynamic=True)
        self.assertEqual(await registry.get_prompt("plugin.x.summary", n=3, who="Ann"),
                         "In 3 sentences, Ann: {{other}}")
        self.assertEqual(await registry.get_prompt("plugin.x.summary"), "In {{n}} sentences, {{ who }}: {{other}}")
        self.assertEqual(registry.get_default("plugin.x.summary").metadata["name"], "Summary")
        with self.assertRaisesRegex(KeyError, "plugin.x.missing"):
            await registry.get_prompt("plugin.x.missing")
        self.assertIs(get_prompt_registry(), get_prompt_registry())

    async def test_the_runner_registers_prompts_before_initialize_and_survives_a_failure(self):
        order = []

        class Prompted(BasePlugin):
            def register_prompts(self, registry):
                order.append("register")
                registry.register_default("plugin.prompted.hello", template="Hello {{name}}")

            async def initialize(self):
                order.append(await get_prompt_registry().get_prompt("plugin.prompted.hello", name="init"))

        class Broken(BasePlugin):
            def register_prompts(self, registry):
                raise RuntimeError("no prompts today")

        for plugin_class in (Prompted, Broken):
            runner = PluginRunner(plugin_class.__name__.lower(), FIXTURES)
            runner._plugin_class = plugin_class
            if plugin_class is Broken:
                with self.assertLogs("chronicle_plugin.runner", "ERROR"):
                    await runner.initialize(initialize_params("broken"))
            else:
                await runner.initialize(initialize_params("prompted"))
            self.assertIsInstance(runner.plugin, plugin_class)
        self.assertEqual(order, ["register", "Hello init"])


class InteractionModesTest(unittest.IsolatedAsyncioTestCase):
    async def test_a_plugin_of_interaction_modes_only_is_refused_naming_the_feature(self):
        from backend.plugins import InteractionModeDefinition

        class OrderMode(BasePlugin):
            INTERACTION_MODES = (InteractionModeDefinition(mode_id="order", activation_phrases=("order food",)),)

            async def on_interaction_start(self, context):
                return None

        runner = PluginRunner("order_mode", FIXTURES)
        runner._plugin_class = OrderMode
        with self.assertLogs("chronicle_plugin.runner", "ERROR"), self.assertRaises(RpcError) as refused:
            await runner.initialize(initialize_params("order_mode"))
        self.assertEqual(refused.exception.code, ErrorCode.PLUGIN_BROKEN)
        self.assertIn("NotImplementedError: interaction modes (order)", refused.exception.message)

    def test_the_mode_definition_checks_itself_as_the_originals_did(self):
        from backend.plugins import InteractionModeDefinition

        with self.assertRaisesRegex(ValueError, "activation phrase"):
            InteractionModeDefinition(mode_id="empty", activation_phrases=())


class LanguageModelTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        async def no_requests(method, params):
            raise AssertionError(method)

        self.host = InProcessHost(no_requests, "homeassistant")
        host.current_context_id.set("ctx-4")

    async def asyncTearDown(self):
        await self.host.close()

    async def answer_next(self, result):
        request = await self.host.receive()
        self.host.send({"jsonrpc": "2.0", "id": request["id"], "result": result})
        return request

    async def test_the_openai_style_client_goes_to_llm_generate_from_a_worker_thread(self):
        client = get_llm_client()
        messages = [{"role": "system", "content": "Parse commands."}, {"role": "user", "content": "lights off"}]
        pending = asyncio.ensure_future(asyncio.to_thread(
            client.client.chat.completions.create, model=client.model, messages=messages, temperature=0.1,
            max_tokens=150))
        request = await self.answer_next('{"action": "turn_off"}')
        self.assertEqual((request["method"], request["params"]),
                         ("llm.generate", {"context_id": "ctx-4", "prompt": "Parse commands.\n\nlights off"}))
        response = await pending
        self.assertEqual(response.choices[0].message.content, '{"action": "turn_off"}')
        self.assertIsNone(response.choices[0].message.tool_calls)

        pending = asyncio.ensure_future(asyncio.to_thread(client.generate, "Say hi"))
        await self.answer_next("  hi  ")
        self.assertEqual(await pending, "hi")

    async def test_the_async_forms(self):
        client = get_llm_client()
        pending = asyncio.ensure_future(client.async_generate("Say hi", temperature=0.3))
        self.assertEqual((await self.answer_next(" hi "))["params"]["prompt"], "Say hi")
        self.assertEqual(await pending, "hi")
        pending = asyncio.ensure_future(async_chat_with_tools([{"role": "user", "content": "cart"}],
                                                              operation="plugin_assistant"))
        await self.answer_next("Your cart is empty.")
        self.assertEqual((await pending).choices[0].message.content, "Your cart is empty.")

    async def test_a_blocking_call_on_the_loop_without_the_runners_reader_fails_instead_of_hanging(self):
        with self.assertRaises(ServiceError) as failed:
            get_llm_client().generate("hello")
        self.assertEqual(failed.exception.code, ErrorCode.SERVICE_UNAVAILABLE)
        self.assertEqual(self.host.unread(), 0)

    async def test_tool_calling_raises_not_implemented_naming_it(self):
        with self.assertRaisesRegex(NotImplementedError, "LLM tool calling"):
            await async_chat_with_tools([{"role": "user", "content": "x"}], tools=[{"type": "function"}])
        with self.assertRaisesRegex(NotImplementedError, "message parts"):
            prompt_from_messages([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}])

    def test_a_conversation_becomes_one_prompt(self):
        self.assertEqual(
            prompt_from_messages([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                  {"role": "assistant", "content": "Hello"},
                                  {"role": "user", "content": [{"type": "text", "text": "Bye"}]}]),
            "Be brief.\n\nUser: Hi\n\nAssistant: Hello\n\nUser: Bye",
        )


class BlockingCallTest(unittest.TestCase):
    """`Connection.call_blocking`, which a synchronous model call on the event loop's thread
    uses: the reader thread hands it its answer."""

    def connection_with_reader(self, answer):
        written: "queue.Queue[bytes]" = queue.Queue()

        async def serve(method, params):
            raise AssertionError(method)

        connection = Connection(None, written.put, serve)
        connection.answers_blocking_calls = True

        def reader():
            request = json.loads(written.get(timeout=10))
            other = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "health_check", "params": {}}).encode()
            self.taken = [connection.take_blocking_answer(other)]
            self.taken.append(connection.take_blocking_answer(answer(request)))

        thread = threading.Thread(target=reader)
        thread.start()
        self.addCleanup(thread.join, 10)
        return connection

    def test_the_reader_thread_delivers_the_answer(self):
        connection = self.connection_with_reader(
            lambda request: json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "text"}).encode())
        self.assertEqual(connection.call_blocking("llm.generate", {"context_id": None, "prompt": "p"}), "text")
        self.assertEqual(self.taken, [False, True], "host requests stay with the event loop")

    def test_an_error_answer_and_the_end_of_input_raise_service_error(self):
        connection = self.connection_with_reader(lambda request: json.dumps(
            {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32030, "message": "add `llm`"}}).encode())
        with self.assertRaises(ServiceError) as denied:
            connection.call_blocking("llm.generate", {"prompt": "p"})
        self.assertEqual((denied.exception.code, denied.exception.message), (-32030, "add `llm`"))
        connection = self.connection_with_reader(lambda request: b"")
        with self.assertRaisesRegex(ServiceError, "the host closed the connection"):
            connection.call_blocking("llm.generate", {"prompt": "p"})
        self.assertEqual(self.taken, [False, False], "end of input still reaches the event loop")


class StopPlaybackTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        async def no_requests(method, params):
            raise AssertionError(method)

        self.host = InProcessHost(no_requests, "button_control")

    async def asyncTearDown(self):
        await self.host.close()

    async def test_the_originals_signature_tells_the_device(self):
        services = PluginServices("ctx-9")
        pending = asyncio.ensure_future(services.stop_playback("user-1", "pendant-1"))
        request = await self.host.receive()
        self.assertEqual((request["method"], request["params"]),
                         ("services.stop_playback", {"context_id": "ctx-9", "client_id": "pendant-1",
                                                     "user_id": "user-1"}))
        self.host.send({"jsonrpc": "2.0", "id": request["id"], "result": True})
        self.assertIs(await pending, True)

    async def test_empty_arguments_raise_value_error_as_in_the_original(self):
        services = PluginServices("ctx-9")
        for user_id, client_id in (("", "pendant-1"), ("user-1", None)):
            with self.subTest(user_id=user_id, client_id=client_id), \
                    self.assertRaisesRegex(ValueError, "user_id and client_id"):
                await services.stop_playback(user_id, client_id)
        self.assertEqual(self.host.unread(), 0)


class NotImplementedFeaturesTest(unittest.IsolatedAsyncioTestCase):
    async def test_each_missing_feature_is_named(self):
        from backend.integrations.swiggy import FileTokenStore, Server, SwiggyClient, search_products
        from backend.integrations.swiggy.payment_job import enqueue_instamart_payment_monitor
        from backend.openai_factory import create_openai_client
        from backend.plugins import PluginRouter
        from backend.services.dialogue.capture import from_plugin

        router = PluginRouter()
        self.assertEqual((router.plugins, PluginRouter._EVENT_LOG_KEY), ({}, "system:event_log"))
        self.assertEqual(Server.INSTAMART, "im")
        cases = [
            (lambda: router.register_plugin("x", None), "registering plugins"),
            (lambda: router.get_asr_keywords(), "speech-recognition keywords"),
            (lambda: FileTokenStore(Path("/tmp")), "the Swiggy integration"),
            (lambda: SwiggyClient(None), "SwiggyClient"),
            (lambda: enqueue_instamart_payment_monitor(order_id="o"), "payment monitor"),
            (lambda: create_openai_client(), "creating OpenAI clients"),
        ]
        for call, feature in cases:
            with self.subTest(feature), self.assertRaisesRegex(NotImplementedError, feature):
                call()
        awaited = [
            (router.dispatch_event("conversation.complete", "u", {}), "dispatching events"),
            (search_products(None, "addr", "milk"), "search_products"),
            (from_plugin(None, "home_assistant"), "dialogue capture"),
        ]
        for call, feature in awaited:
            with self.subTest(feature), self.assertRaisesRegex(NotImplementedError, feature):
                await call


class HelpersTest(unittest.TestCase):
    def test_logging_and_time_helpers(self):
        from backend.utils.logging_utils import SECRET_MASK, mask_dict
        from backend.utils.user_time import format_user_datetime, in_user_timezone

        self.assertEqual(
            mask_dict({"smtp_host": "smtp.example.com", "smtp_password": "hunter2", "ha": {"ha_token": "t"},
                       "api_key": ""}),
            {"smtp_host": "smtp.example.com", "smtp_password": SECRET_MASK, "ha": {"ha_token": SECRET_MASK},
             "api_key": ""},
        )
        noon = datetime(2025, 1, 15, 12, 0)
        self.assertEqual(format_user_datetime(noon, None, "%b %d, %Y at %I:%M %p %Z"), "Jan 15, 2025 at 12:00 PM UTC")
        self.assertEqual(in_user_timezone(noon, "UTC").tzinfo, timezone.utc)

    def test_the_originals_condition_text_helpers(self):
        from backend.plugins.router import extract_command_after_wake_word, extract_command_around_keyword

        self.assertEqual(extract_command_around_keyword("Turn off the hall lights, Hermes, please", "hermes"),
                         "Turn off the hall lights please")
        self.assertEqual(extract_command_after_wake_word("Hey-Hermes: go", "Hey, Hermes!"), "go")

    def test_timing_span_times_both_ways(self):
        from backend.services.voice_latency import timing_span

        with timing_span("stt") as span:
            pass

        async def timed():
            async with timing_span("agent", detail="reply") as inner:
                return inner

        self.assertGreaterEqual(span.elapsed_ms, 0)
        self.assertGreaterEqual(asyncio.run(timed()).elapsed_ms, 0)

    def test_an_object_id_travels_as_its_hex_text(self):
        object_id = type("ObjectId", (), {"__module__": "bson.objectid", "__str__": lambda self: "65a1f0c2e4b0a1b2c3d4e5f6"})
        self.assertEqual(to_json_value({"_id": object_id()}), {"_id": "65a1f0c2e4b0a1b2c3d4e5f6"})
        with self.assertRaises(TypeError):
            to_json_value({"_id": type("ObjectId", (), {})()})


class RecapAssistantProcessTest(unittest.TestCase):
    """tests/original_style_plugins/recap_assistant, run by the real runner as the host runs it."""

    def start(self, events):
        plugins = PluginsDir(self)
        plugins.copy(FIXTURES / "recap_assistant", "recap_assistant")
        plugin = PluginProcess(self, plugins.path, "recap_assistant")
        params = initialize_params("recap_assistant", settings={"sentences": 3, "smtp_password": "hunter2"})
        params["orchestration"] = {"enabled": True, "events": events, "condition": {"type": "always"}, "priority": 100}
        answer = plugin.call(1, "initialize", params)
        self.assertIn("result", answer, answer)
        return plugin, answer["result"]

    def deliver(self, plugin, request_id, context_id, event, data, metadata=None):
        plugin.request(request_id, "handle_event", handle_event_params(
            context_id, event=event, data=data, metadata=metadata, plugin_id="recap_assistant"))

    def test_conversation_complete_and_the_wake_word(self):
        plugin, described = self.start(["conversation.complete", "wake_word.detected"])
        self.assertEqual(
            (described["name"], described["access_levels"], described["events"]),
            ("Recap Assistant", ["conversation"], ["conversation.complete", "wake_word.detected"]),
        )

        self.deliver(plugin, 2, "ctx-1", "conversation.complete", COMPLETE_DATA, {"end_reason": "user_stopped"})
        asked = plugin.receive()
        self.assertEqual((asked["method"], asked["params"]), ("llm.generate", {
            "context_id": "ctx-1",
            "prompt": "You write short recaps.\n\nRecap this conversation for ann@example.com in 3 sentences:\n"
                      "We need milk and eggs.",
        }))
        plugin.answer(asked["id"], " You need milk and eggs. ")
        answer = plugin.receive()
        self.assertEqual(answer["id"], 2, answer)
        self.assertEqual(answer["result"]["result"], {
            "success": True,
            "message": "Groceries - Nov 25, 2026 at 09:00 AM UTC",
            "data": {"recap": "You need milk and eggs.", "summary": "Milk and eggs.", "duration": "2m 5s",
                     "end_reason": "user_stopped", "client_id": "pendant-1"},
            "should_continue": True,
        })

        self.deliver(plugin, 3, "ctx-2", "wake_word.detected", WAKE_DATA)
        answer = plugin.receive()
        self.assertEqual(answer["result"]["result"]["message"], "Heard: what's the weather", answer)
        self.assertEqual(answer["result"]["result"]["data"], {"is_wake_event": True, "score": 0.93})

        self.deliver(plugin, 4, "ctx-3", "wake_word.detected", {**WAKE_DATA, "command": "stop talking"})
        stop = plugin.receive()
        self.assertEqual((stop["method"], stop["params"]),
                         ("services.stop_playback", {"context_id": "ctx-3", "client_id": "pendant-1",
                                                     "user_id": "user-1"}))
        plugin.answer(stop["id"], True)
        result = plugin.receive()["result"]["result"]
        self.assertEqual((result["success"], result["message"], result["data"], result["should_continue"]),
                         (True, "Playback stopped", {"action": "stop_playback"}, False))
        self.assertEqual(plugin.close_stdin(), 0)
        self.assertNotIn("hunter2", plugin.stderr(), "mask_dict hid the secret in the log")

    def test_a_host_that_did_not_subscribe_the_wake_word_is_not_told_about_it(self):
        plugin, described = self.start(["conversation.complete"])
        self.assertEqual(described["events"], ["conversation.complete"])


if __name__ == "__main__":
    unittest.main()
