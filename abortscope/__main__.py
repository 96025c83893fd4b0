from abortscope.cli import main

main()
