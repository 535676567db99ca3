"""Layer 3, portfolio and risk: covariance and expected-return estimators, optimizers, risk metrics and limits,
position sizing and rebalancing."""
