from wharfie.cli.main import run

run()
