"""Azure Resource Graph, emulated: `POST /providers/Microsoft.ResourceGraph/resources` evaluating the subset of
the Kusto Query Language (KQL) the integration uses, over the ARM store's resources, filtered by RBAC.

  lexer.py      the query text -> tokens (and QueryError, every query-language error)
  parser.py     tokens -> a syntax tree (recursive descent), with the operators and functions of the subset
  evaluator.py  the syntax tree -> rows: tabular operators, scalar expressions, aggregations
  tables.py     the tables Resources and ResourceContainers: one row per resource the caller may read
  limits.py     Resource Graph's limits on a query (joins, mv-expands, mv-expand's rows), checked before it runs
  quota.py      Resource Graph's per-user quota (x-ms-user-quota-remaining / -resets-after, 429 RateLimiting)
  responses.py  the request handler: body and options, quota, paging with $skipToken, result formats

Spec followed: specification/resourcegraph/resource-manager/Microsoft.ResourceGraph/stable/2022-10-01/
resourcegraph.json (QueryRequest, QueryRequestOptions, QueryResponse, ErrorResponse).
"""
