// MarketAPI: the Hummingbird 2 application serving the HTTP JSON API (built in the API issue).
