// Market: the domain in pure Swift (types, state machines, fair pricing, matching score, policy checks).
// No I/O. Built in the marketplace, pricing and matching issues.
