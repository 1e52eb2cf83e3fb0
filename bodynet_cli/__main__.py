"""``python -m bodynet_cli`` (also what ``torchrun -m bodynet_cli`` runs)."""

from bodynet_cli.cli.app import main

if __name__ == "__main__":
    main()
