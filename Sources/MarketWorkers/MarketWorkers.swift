// MarketWorkers: job handlers that match demands, re-match on new products, reprice, expire and notify.
