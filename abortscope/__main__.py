from abortscope.cli import app

app()
