-- What the planner must know of pdx's own functions to choose the right plan.
--
-- pdx_wanted_keys is a SQL function with a sub-select (never inlined): every call runs a small executor of
-- its own, 60-120 µs on the project's machine. Declared at the default cost (100 × cpu_operator_cost), the
-- planner thought evaluating it for every live demand cheaper than reading demands_wanted_keys whenever its
-- row estimate for a product's keys ran high (statistics not yet caught up after a burst of demands, or
-- keys as broad as a province): a new product's match then read every live demand, 0.8-2.4 s at 26,000 of
-- them instead of ~6 ms through the index. At this cost the seq scan is chosen only when the index would
-- return most of the table anyway.
ALTER FUNCTION pdx_wanted_keys(text, text[], pdx_delivery_mode[]) COST 1000;
ALTER FUNCTION pdx_offered_keys(text, text[], pdx_delivery_mode[]) COST 1000;
