from gridtalk.cli import main

main()
