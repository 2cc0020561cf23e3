from fareroom.cli import main

main()
