"""Trading: orders and their lifecycle, the Broker port, the paper broker, risk checks and the portfolio."""
