"""Sessions with configs built on demand hold exactly what Gradio's eager sessions hold."""
import gradio as gr
from gradio import state_holder

from ui import gradio_sessions


def test_configs_on_demand_equal_gradios_eager_configs():
    with gr.Blocks() as demo:
        text = gr.Textbox("吴淞", label="问题")
        table = gr.Dataframe([[1, "a"]], headers=["n", "s"])
        gr.Button("提问").click(lambda x: x, text, text)
    eager = state_holder.SessionState(demo).config_values
    eager = {key: value for key, value in eager.items()}          # whatever the class, read it all
    assert gradio_sessions.enable() or gr.__version__ != gradio_sessions.CHECKED_GRADIO_VERSION
    session = state_holder.SessionState(demo)
    if isinstance(session.config_values, gradio_sessions.ConfigsOnDemand):
        assert dict.__len__(session.config_values) == 0                     # nothing built at the start
        assert session.config_values[table._id] == eager[table._id]        # one built when asked for
        assert dict.__len__(session.config_values) == 1
    assert dict(session.config_values.items()) == eager                     # all of them when iterated
    assert len(list(session.components)) == len([c for c in eager.values() if c])
