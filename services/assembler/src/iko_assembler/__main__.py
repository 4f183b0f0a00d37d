from iko_assembler.app import main

if __name__ == "__main__":
    main()
