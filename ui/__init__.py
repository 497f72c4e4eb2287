"""The web app: pure HTML rendering, chat follow-ups, and the Gradio Blocks layout."""
