from homefire.cli import main

main()
