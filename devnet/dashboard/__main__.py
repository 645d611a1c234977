"""``python -m devnet.dashboard``: how the devnet launcher starts the dashboard."""

from devnet.dashboard.cli import dashboard

if __name__ == "__main__":
    dashboard()
