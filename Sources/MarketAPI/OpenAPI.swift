/// The API's contract (OpenAPI 3.1), served at `/openapi.json`. Tests check every response of the suite
/// against it, and CI runs schemathesis against it (`deploy/conformance/run`).
enum OpenAPI {
    static let document = #"""
{
 "openapi": "3.1.0",
 "info": {
  "title": "pdx public data exchange API",
  "version": "1.0.0",
  "description": "Demanders post demand requests, operators list products built on authorized public data, agencies register resources and grant authorizations. Amounts are in fen (1/100 yuan). Send an API key from `pdxctl keys create` as `Authorization: Bearer <key>`. Errors are RFC 9457 problem details with a stable `code`. Lists are cursor-paged: pass `next` as `after`."
 },
 "servers": [
  {
   "url": "http://127.0.0.1:8080"
  }
 ],
 "security": [
  {
   "apiKey": []
  }
 ],
 "paths": {
  "/healthz": {
   "get": {
    "summary": "The process is alive",
    "tags": [
     "operations"
    ],
    "operationId": "healthz",
    "security": [],
    "responses": {
     "200": {
      "description": "alive",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     }
    }
   }
  },
  "/readyz": {
   "get": {
    "summary": "The database is reachable and its migrations current",
    "tags": [
     "operations"
    ],
    "operationId": "readyz",
    "security": [],
    "responses": {
     "200": {
      "description": "ready",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/metrics": {
   "get": {
    "summary": "Prometheus metrics",
    "tags": [
     "operations"
    ],
    "operationId": "metrics",
    "security": [],
    "responses": {
     "200": {
      "description": "text exposition format",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "summary": "This document",
    "tags": [
     "operations"
    ],
    "operationId": "openapi",
    "security": [],
    "responses": {
     "200": {
      "description": "the OpenAPI 3.1 document",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     }
    }
   }
  },
  "/v1/products": {
   "get": {
    "summary": "Search the catalogue (every filter given must hold); no key needed",
    "tags": [
     "catalogue"
    ],
    "operationId": "getProducts",
    "parameters": [
     {
      "name": "sector",
      "in": "query",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      }
     },
     {
      "name": "region",
      "in": "query",
      "schema": {
       "type": "string",
       "pattern": "^[0-9]{6}$",
       "description": "GB/T 2260 administrative division code"
      }
     },
     {
      "name": "scenario",
      "in": "query",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      }
     },
     {
      "name": "delivery_mode",
      "in": "query",
      "schema": {
       "type": "string",
       "enum": [
        "api",
        "file",
        "sandbox"
       ]
      }
     },
     {
      "name": "min_price_fen",
      "in": "query",
      "schema": {
       "type": "integer",
       "format": "int64",
       "minimum": 0,
       "maximum": 10000000000
      }
     },
     {
      "name": "max_price_fen",
      "in": "query",
      "schema": {
       "type": "integer",
       "format": "int64",
       "minimum": 0,
       "maximum": 10000000000
      }
     },
     {
      "name": "q",
      "in": "query",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 200
      },
      "description": "words of the title, description or tags, Chinese or English"
     },
     {
      "name": "after",
      "in": "query",
      "schema": {
       "type": "string",
       "format": "uuid"
      },
      "description": "the next cursor of the previous page"
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 200,
       "default": 50
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ProductPage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "security": [
     {},
     {
      "apiKey": []
     }
    ]
   },
   "post": {
    "summary": "Create a draft product under one of the operator's authorizations",
    "tags": [
     "products"
    ],
    "operationId": "postProducts",
    "parameters": [
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Product"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/NewProduct"
       }
      }
     }
    }
   }
  },
  "/v1/products/{id}": {
   "get": {
    "summary": "A listed product (no key needed), or the caller's own in any state",
    "tags": [
     "catalogue"
    ],
    "operationId": "getProductsId",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Product"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "security": [
     {},
     {
      "apiKey": []
     }
    ]
   },
   "put": {
    "summary": "Replace a draft, or publish a new version of a listed or suspended product",
    "tags": [
     "products"
    ],
    "operationId": "putProductsId",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Product"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/ProductContent"
       }
      }
     }
    }
   }
  },
  "/v1/products/{id}/quote": {
   "get": {
    "summary": "Preview the price for the caller",
    "tags": [
     "catalogue"
    ],
    "operationId": "getProductsIdQuote",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "quantity",
      "in": "query",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64",
       "minimum": 1,
       "maximum": 1000000000000
      }
     },
     {
      "name": "purpose",
      "in": "query",
      "required": true,
      "schema": {
       "type": "string",
       "enum": [
        "public_governance",
        "public_welfare",
        "industry_development",
        "sector_development"
       ]
      }
     },
     {
      "name": "scenario",
      "in": "query",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Quote"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/demands": {
   "get": {
    "summary": "The caller's demands",
    "tags": [
     "demands"
    ],
    "operationId": "getDemands",
    "parameters": [
     {
      "name": "after",
      "in": "query",
      "schema": {
       "type": "string",
       "format": "uuid"
      },
      "description": "the next cursor of the previous page"
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 200,
       "default": 50
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/DemandPage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   },
   "post": {
    "summary": "Post a demand (a draft unless open is true)",
    "tags": [
     "demands"
    ],
    "operationId": "postDemands",
    "parameters": [
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Demand"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/NewDemand"
       }
      }
     }
    }
   }
  },
  "/v1/demands/{id}": {
   "get": {
    "summary": "One of the caller's demands",
    "tags": [
     "demands"
    ],
    "operationId": "getDemandsId",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Demand"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   },
   "put": {
    "summary": "Replace a draft demand (and open it if open is true)",
    "tags": [
     "demands"
    ],
    "operationId": "putDemandsId",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Demand"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/NewDemand"
       }
      }
     }
    }
   }
  },
  "/v1/demands/{id}/matches": {
   "get": {
    "summary": "The matches proposed for the caller's demand",
    "tags": [
     "demands"
    ],
    "operationId": "getDemandsIdMatches",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/MatchPage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/demands/{id}/matches/{match}/accept": {
   "post": {
    "summary": "Accept a match: places an order at its quote",
    "tags": [
     "demands"
    ],
    "operationId": "postDemandsIdMatchesMatchAccept",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "match",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Order"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/demands/{id}/matches/{match}/decline": {
   "post": {
    "summary": "Decline a match",
    "tags": [
     "demands"
    ],
    "operationId": "postDemandsIdMatchesMatchDecline",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "match",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/orders": {
   "get": {
    "summary": "Orders the caller bought or sells",
    "tags": [
     "orders"
    ],
    "operationId": "getOrders",
    "parameters": [
     {
      "name": "after",
      "in": "query",
      "schema": {
       "type": "string",
       "format": "uuid"
      },
      "description": "the next cursor of the previous page"
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 200,
       "default": 50
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OrderPage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/orders/{id}": {
   "get": {
    "summary": "One of the caller's orders",
    "tags": [
     "orders"
    ],
    "operationId": "getOrdersId",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Order"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/resources": {
   "get": {
    "summary": "The agency's data resources",
    "tags": [
     "agencies"
    ],
    "operationId": "getResources",
    "parameters": [
     {
      "name": "after",
      "in": "query",
      "schema": {
       "type": "string",
       "format": "uuid"
      },
      "description": "the next cursor of the previous page"
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 200,
       "default": 50
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ResourcePage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   },
   "post": {
    "summary": "Register a data resource (agencies)",
    "tags": [
     "agencies"
    ],
    "operationId": "postResources",
    "parameters": [
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Resource"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/NewResource"
       }
      }
     }
    }
   }
  },
  "/v1/resources/{id}": {
   "get": {
    "summary": "One of the agency's resources",
    "tags": [
     "agencies"
    ],
    "operationId": "getResourcesId",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Resource"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/authorizations": {
   "get": {
    "summary": "Authorizations the caller granted (agency) or holds (operator)",
    "tags": [
     "agencies"
    ],
    "operationId": "getAuthorizations",
    "parameters": [
     {
      "name": "after",
      "in": "query",
      "schema": {
       "type": "string",
       "format": "uuid"
      },
      "description": "the next cursor of the previous page"
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 200,
       "default": 50
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/AuthorizationPage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   },
   "post": {
    "summary": "Grant an authorization to an operator (agencies)",
    "tags": [
     "agencies"
    ],
    "operationId": "postAuthorizations",
    "parameters": [
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Authorization"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/NewAuthorization"
       }
      }
     }
    }
   }
  },
  "/v1/authorizations/{id}": {
   "get": {
    "summary": "One authorization the caller granted or holds",
    "tags": [
     "agencies"
    ],
    "operationId": "getAuthorizationsId",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Authorization"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/webhook": {
   "get": {
    "summary": "The caller's webhook URL",
    "tags": [
     "webhooks"
    ],
    "operationId": "getWebhook",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Webhook"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   },
   "post": {
    "summary": "Set (or with null, remove) the webhook URL; returns a new signing secret",
    "tags": [
     "webhooks"
    ],
    "operationId": "postWebhook",
    "parameters": [
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Webhook"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/WebhookSetting"
       }
      }
     }
    }
   }
  },
  "/v1/webhook/rotate": {
   "post": {
    "summary": "Replace the webhook's signing secret",
    "tags": [
     "webhooks"
    ],
    "operationId": "postWebhookRotate",
    "parameters": [
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Webhook"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/products/{id}/list": {
   "post": {
    "summary": "List (publish) a draft or suspended product (its operator)",
    "tags": [
     "products"
    ],
    "operationId": "postProductsIdList",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Product"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/products/{id}/suspend": {
   "post": {
    "summary": "Suspend a listed product (its operator)",
    "tags": [
     "products"
    ],
    "operationId": "postProductsIdSuspend",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Product"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/products/{id}/delist": {
   "post": {
    "summary": "Delist a product for good (its operator)",
    "tags": [
     "products"
    ],
    "operationId": "postProductsIdDelist",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Product"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/demands/{id}/open": {
   "post": {
    "summary": "Open a draft demand",
    "tags": [
     "demands"
    ],
    "operationId": "postDemandsIdOpen",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Demand"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/demands/{id}/cancel": {
   "post": {
    "summary": "Cancel a demand",
    "tags": [
     "demands"
    ],
    "operationId": "postDemandsIdCancel",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Demand"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/orders/{id}/accept": {
   "post": {
    "summary": "Accept an order (its operator)",
    "tags": [
     "orders"
    ],
    "operationId": "postOrdersIdAccept",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Order"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/orders/{id}/reject": {
   "post": {
    "summary": "Reject an order (its operator)",
    "tags": [
     "orders"
    ],
    "operationId": "postOrdersIdReject",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Order"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/orders/{id}/deliver": {
   "post": {
    "summary": "Deliver an order (its operator)",
    "tags": [
     "orders"
    ],
    "operationId": "postOrdersIdDeliver",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Order"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/orders/{id}/cancel": {
   "post": {
    "summary": "Cancel an order (its buyer)",
    "tags": [
     "orders"
    ],
    "operationId": "postOrdersIdCancel",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Order"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/orders/{id}/complete": {
   "post": {
    "summary": "Complete an order (its buyer)",
    "tags": [
     "orders"
    ],
    "operationId": "postOrdersIdComplete",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Order"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/authorizations/{id}/suspend": {
   "post": {
    "summary": "Suspend (reason required) authorization: its agency",
    "tags": [
     "agencies"
    ],
    "operationId": "postAuthorizationsIdSuspend",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Authorization"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/authorizations/{id}/reinstate": {
   "post": {
    "summary": "Reinstate a suspended authorization: its agency",
    "tags": [
     "agencies"
    ],
    "operationId": "postAuthorizationsIdReinstate",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Authorization"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  },
  "/v1/authorizations/{id}/revoke": {
   "post": {
    "summary": "Revoke (reason required) authorization: its agency",
    "tags": [
     "agencies"
    ],
    "operationId": "postAuthorizationsIdRevoke",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "format": "uuid"
      }
     },
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "description": "makes the POST happen at most once: a retry with the same key and body gets the first response (Idempotent-Replayed: true); another body is a 422; a retry while the first runs waits for it (up to 10 s, then a 409 idempotency_key_in_use); kept 24 hours",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 255,
       "pattern": "^[!-~]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Authorization"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/RuleViolation"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    },
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Reason"
       }
      }
     }
    }
   }
  }
 },
 "components": {
  "securitySchemes": {
   "apiKey": {
    "type": "http",
    "scheme": "bearer",
    "description": "pdx_<12 hex>_<48 hex>"
   }
  },
  "schemas": {
   "Problem": {
    "type": "object",
    "properties": {
     "type": {
      "type": "string"
     },
     "title": {
      "type": "string"
     },
     "status": {
      "type": "integer"
     },
     "detail": {
      "type": "string"
     },
     "code": {
      "type": "string",
      "enum": [
       "invalid_input",
       "malformed_json",
       "unauthorized",
       "forbidden",
       "not_found",
       "method_not_allowed",
       "state_conflict",
       "idempotency_key_in_use",
       "idempotency_key_reused",
       "too_large",
       "rate_limited",
       "unavailable",
       "internal",
       "out_of_scope",
       "single_operator_overlap",
       "grade_core",
       "grade_important_needs_sandbox",
       "personal_information_not_deidentified",
       "cap_exceeded",
       "anti_monopoly"
      ],
      "description": "stable: invalid_input (a field breaks its rule, named in field: a wrong type, a bound, an impossible date, U+0000 in text), malformed_json (not JSON), unauthorized, forbidden, not_found, method_not_allowed, state_conflict, idempotency_key_in_use (409: a request with the key still runs after 10 s), idempotency_key_reused, too_large, rate_limited, unavailable, internal, or the DOMAIN rule broken"
     },
     "field": {
      "type": "string"
     },
     "rule": {
      "type": "string"
     }
    },
    "required": [
     "type",
     "title",
     "status",
     "detail",
     "code"
    ],
    "additionalProperties": false,
    "description": "RFC 9457 problem details"
   },
   "Status": {
    "type": "object",
    "properties": {
     "status": {
      "type": "string"
     }
    },
    "required": [
     "status"
    ],
    "additionalProperties": false
   },
   "Reason": {
    "type": "object",
    "properties": {
     "reason": {
      "type": "string",
      "maxLength": 2000
     }
    },
    "required": [],
    "description": "Why (optional; required to suspend or revoke an authorization)"
   },
   "ProductContent": {
    "type": "object",
    "properties": {
     "title": {
      "type": "string",
      "minLength": 1,
      "maxLength": 200
     },
     "description": {
      "type": "string",
      "maxLength": 20000
     },
     "sector": {
      "type": "string",
      "pattern": "^[a-z0-9_.-]{1,64}$"
     },
     "regions": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[0-9]{6}$",
       "description": "GB/T 2260 administrative division code"
      },
      "minItems": 1,
      "maxItems": 200,
      "description": "GB/T 2260 codes, 1 to 200, none twice"
     },
     "scenarios": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      },
      "minItems": 1
     },
     "tags": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      }
     },
     "fields": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      },
      "minItems": 1
     },
     "delivery_modes": {
      "type": "array",
      "items": {
       "type": "string",
       "enum": [
        "api",
        "file",
        "sandbox"
       ]
      },
      "minItems": 1,
      "maxItems": 3
     },
     "charge_unit": {
      "type": "string",
      "enum": [
       "item",
       "call",
       "hour",
       "record"
      ]
     },
     "list_price_fen": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "maximum": 10000000000
     },
     "source_resource_ids": {
      "type": "array",
      "items": {
       "type": "string",
       "format": "uuid"
      },
      "minItems": 1
     }
    },
    "required": [
     "title",
     "sector",
     "regions",
     "scenarios",
     "fields",
     "delivery_modes",
     "charge_unit",
     "list_price_fen",
     "source_resource_ids"
    ]
   },
   "Product": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string",
      "format": "uuid"
     },
     "state": {
      "type": "string",
      "enum": [
       "draft",
       "listed",
       "suspended",
       "delisted"
      ]
     },
     "version": {
      "type": "integer",
      "minimum": 1
     },
     "operator_id": {
      "type": "string",
      "format": "uuid"
     },
     "authorization_id": {
      "type": "string",
      "format": "uuid"
     },
     "title": {
      "type": "string"
     },
     "description": {
      "type": "string"
     },
     "sector": {
      "type": "string"
     },
     "regions": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "scenarios": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "tags": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "fields": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "delivery_modes": {
      "type": "array",
      "items": {
       "type": "string",
       "enum": [
        "api",
        "file",
        "sandbox"
       ]
      }
     },
     "charge_unit": {
      "type": "string",
      "enum": [
       "item",
       "call",
       "hour",
       "record"
      ]
     },
     "list_price_fen": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "maximum": 10000000000
     },
     "pending_version": {
      "description": "a version announced to take effect after the notice period (it can raise the price), or null",
      "oneOf": [
       {
        "type": "null"
       },
       {
        "type": "object",
        "properties": {
         "version": {
          "type": "integer",
          "minimum": 2
         },
         "effective_at": {
          "type": "string",
          "format": "date-time"
         },
         "list_price_fen": {
          "type": "integer",
          "format": "int64",
          "minimum": 0,
          "maximum": 10000000000
         },
         "charge_unit": {
          "type": "string",
          "enum": [
           "item",
           "call",
           "hour",
           "record"
          ]
         }
        },
        "required": [
         "version",
         "effective_at",
         "list_price_fen",
         "charge_unit"
        ],
        "additionalProperties": false
       }
      ]
     }
    },
    "required": [
     "id",
     "state",
     "version",
     "operator_id",
     "authorization_id",
     "title",
     "description",
     "sector",
     "regions",
     "scenarios",
     "tags",
     "fields",
     "delivery_modes",
     "charge_unit",
     "list_price_fen",
     "pending_version"
    ],
    "additionalProperties": false
   },
   "NewDemand": {
    "type": "object",
    "properties": {
     "title": {
      "type": "string",
      "minLength": 1,
      "maxLength": 200
     },
     "description": {
      "type": "string",
      "maxLength": 20000
     },
     "sector": {
      "type": "string",
      "pattern": "^[a-z0-9_.-]{1,64}$"
     },
     "scenario": {
      "type": "string",
      "pattern": "^[a-z0-9_.-]{1,64}$"
     },
     "purpose": {
      "type": "string",
      "enum": [
       "public_governance",
       "public_welfare",
       "industry_development",
       "sector_development"
      ]
     },
     "regions": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[0-9]{6}$",
       "description": "GB/T 2260 administrative division code"
      },
      "minItems": 1,
      "maxItems": 200,
      "description": "GB/T 2260 codes, 1 to 200, none twice"
     },
     "fields_wanted": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      },
      "minItems": 1
     },
     "tags": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      }
     },
     "quantity": {
      "type": "integer",
      "format": "int64",
      "minimum": 1,
      "maximum": 1000000000000
     },
     "budget_fen": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "maximum": 1000000000000000
     },
     "delivery_modes": {
      "type": "array",
      "items": {
       "type": "string",
       "enum": [
        "api",
        "file",
        "sandbox"
       ]
      },
      "minItems": 1,
      "maxItems": 3
     },
     "expires_at": {
      "type": "string",
      "format": "date-time"
     },
     "open": {
      "type": "boolean",
      "description": "open it at once (default: a draft)"
     }
    },
    "required": [
     "title",
     "sector",
     "scenario",
     "purpose",
     "regions",
     "fields_wanted",
     "quantity",
     "budget_fen",
     "delivery_modes",
     "expires_at"
    ]
   },
   "Demand": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string",
      "format": "uuid"
     },
     "state": {
      "type": "string",
      "enum": [
       "draft",
       "open",
       "matched",
       "ordered",
       "fulfilled",
       "expired",
       "cancelled"
      ]
     },
     "title": {
      "type": "string"
     },
     "description": {
      "type": "string"
     },
     "sector": {
      "type": "string"
     },
     "scenario": {
      "type": "string"
     },
     "purpose": {
      "type": "string",
      "enum": [
       "public_governance",
       "public_welfare",
       "industry_development",
       "sector_development"
      ]
     },
     "regions": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "fields_wanted": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "tags": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "quantity": {
      "type": "integer",
      "maximum": 1000000000000
     },
     "budget_fen": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "maximum": 1000000000000000
     },
     "delivery_modes": {
      "type": "array",
      "items": {
       "type": "string",
       "enum": [
        "api",
        "file",
        "sandbox"
       ]
      }
     },
     "expires_at": {
      "type": "string",
      "format": "date-time"
     }
    },
    "required": [
     "id",
     "state",
     "title",
     "description",
     "sector",
     "scenario",
     "purpose",
     "regions",
     "fields_wanted",
     "tags",
     "quantity",
     "budget_fen",
     "delivery_modes",
     "expires_at"
    ],
    "additionalProperties": false
   },
   "Reason_": {
    "type": "object",
    "properties": {
     "component": {
      "type": "string"
     },
     "value": {
      "type": "number"
     },
     "weight": {
      "type": "number"
     },
     "detail": {
      "type": "string"
     }
    },
    "required": [
     "component",
     "value",
     "weight",
     "detail"
    ],
    "additionalProperties": false
   },
   "Match": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string",
      "format": "uuid"
     },
     "created_at": {
      "type": "string",
      "format": "date-time"
     },
     "state": {
      "type": "string",
      "enum": [
       "proposed",
       "accepted",
       "declined",
       "withdrawn"
      ]
     },
     "state_changed_at": {
      "type": "string",
      "format": "date-time"
     },
     "score": {
      "type": "number"
     },
     "quote_fen": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "maximum": 1000000000000000
     },
     "sector": {
      "type": "string"
     },
     "demand_id": {
      "type": "string",
      "format": "uuid"
     },
     "demand_title": {
      "type": "string"
     },
     "demander_id": {
      "type": "string",
      "format": "uuid"
     },
     "demander_name": {
      "type": "string"
     },
     "product_id": {
      "type": "string",
      "format": "uuid"
     },
     "product_version": {
      "type": "integer"
     },
     "product_title": {
      "type": "string"
     },
     "operator_id": {
      "type": "string",
      "format": "uuid"
     },
     "operator_name": {
      "type": "string"
     },
     "top_reason": {
      "$ref": "#/components/schemas/Reason_"
     }
    },
    "required": [
     "id",
     "created_at",
     "state",
     "state_changed_at",
     "score",
     "quote_fen",
     "sector",
     "demand_id",
     "demand_title",
     "demander_id",
     "demander_name",
     "product_id",
     "product_version",
     "product_title",
     "operator_id",
     "operator_name"
    ],
    "additionalProperties": false
   },
   "Quote": {
    "type": "object",
    "properties": {
     "quantity": {
      "type": "integer",
      "maximum": 1000000000000
     },
     "amount_fen": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "maximum": 1000000000000000
     },
     "lines": {
      "type": "array",
      "items": {
       "type": "object",
       "properties": {
        "step": {
         "type": "string"
        },
        "detail": {
         "type": "string"
        },
        "amount_fen": {
         "type": "integer",
         "maximum": 1000000000000000
        }
       },
       "required": [
        "step",
        "detail",
        "amount_fen"
       ],
       "additionalProperties": false
      }
     },
     "rules": {
      "type": "array",
      "items": {
       "type": "object",
       "properties": {
        "id": {
         "type": "integer"
        },
        "version": {
         "type": "integer"
        }
       },
       "required": [
        "id",
        "version"
       ],
       "additionalProperties": false
      }
     }
    },
    "required": [
     "quantity",
     "amount_fen",
     "lines",
     "rules"
    ],
    "additionalProperties": false,
    "description": "A price with the line items that explain it"
   },
   "Order": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string",
      "format": "uuid"
     },
     "state": {
      "type": "string",
      "enum": [
       "placed",
       "accepted",
       "delivered",
       "completed",
       "rejected",
       "cancelled"
      ]
     },
     "product_id": {
      "type": "string",
      "format": "uuid"
     },
     "product_version": {
      "type": "integer"
     },
     "match_id": {
      "type": "string",
      "format": "uuid"
     },
     "amount_fen": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "maximum": 1000000000000000
     },
     "quote": {
      "$ref": "#/components/schemas/Quote"
     }
    },
    "required": [
     "id",
     "state",
     "product_id",
     "product_version",
     "amount_fen",
     "quote"
    ],
    "additionalProperties": false
   },
   "NewResource": {
    "type": "object",
    "properties": {
     "title": {
      "type": "string",
      "minLength": 1,
      "maxLength": 200
     },
     "description": {
      "type": "string",
      "maxLength": 10000
     },
     "sector": {
      "type": "string",
      "pattern": "^[a-z0-9_.-]{1,64}$"
     },
     "region_code": {
      "type": "string",
      "pattern": "^[0-9]{6}$",
      "description": "GB/T 2260 administrative division code"
     },
     "grade": {
      "type": "string",
      "enum": [
       "general",
       "important",
       "core"
      ]
     },
     "personal_information": {
      "type": "boolean"
     }
    },
    "required": [
     "title",
     "sector",
     "region_code",
     "grade"
    ]
   },
   "Resource": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string",
      "format": "uuid"
     },
     "agency_id": {
      "type": "string",
      "format": "uuid"
     },
     "title": {
      "type": "string"
     },
     "sector": {
      "type": "string"
     },
     "region_code": {
      "type": "string"
     },
     "grade": {
      "type": "string",
      "enum": [
       "general",
       "important",
       "core"
      ]
     },
     "personal_information": {
      "type": "boolean"
     },
     "deidentified_at": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time"
     }
    },
    "required": [
     "id",
     "agency_id",
     "title",
     "sector",
     "region_code",
     "grade",
     "personal_information",
     "deidentified_at"
    ],
    "additionalProperties": false
   },
   "NewAuthorization": {
    "type": "object",
    "properties": {
     "operator_id": {
      "type": "string",
      "format": "uuid"
     },
     "sectors": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      },
      "minItems": 1
     },
     "regions": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[0-9]{6}$",
       "description": "GB/T 2260 administrative division code"
      },
      "minItems": 1,
      "maxItems": 200,
      "description": "GB/T 2260 codes, 1 to 200, none twice and none within another"
     },
     "scenarios": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[a-z0-9_.-]{1,64}$"
      },
      "minItems": 1
     },
     "mode": {
      "type": "string",
      "enum": [
       "single",
       "multi"
      ]
     },
     "valid_from": {
      "type": "string",
      "format": "date-time"
     },
     "valid_until": {
      "type": "string",
      "format": "date-time"
     }
    },
    "required": [
     "operator_id",
     "sectors",
     "regions",
     "scenarios",
     "mode",
     "valid_until"
    ],
    "description": "At most 5 years; valid_from defaults to now"
   },
   "Authorization": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string",
      "format": "uuid"
     },
     "agency_id": {
      "type": "string",
      "format": "uuid"
     },
     "operator_id": {
      "type": "string",
      "format": "uuid"
     },
     "sectors": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "regions": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "scenarios": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "mode": {
      "type": "string",
      "enum": [
       "single",
       "multi"
      ]
     },
     "valid_from": {
      "type": "string",
      "format": "date-time"
     },
     "valid_until": {
      "type": "string",
      "format": "date-time"
     },
     "state": {
      "type": "string",
      "enum": [
       "active",
       "suspended",
       "revoked",
       "expired"
      ]
     },
     "state_changed_at": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time",
      "description": "when the state last changed"
     },
     "state_reason": {
      "type": [
       "string",
       "null"
      ],
      "description": "why (a suspension's or revocation's reason), or null"
     }
    },
    "required": [
     "id",
     "agency_id",
     "operator_id",
     "sectors",
     "regions",
     "scenarios",
     "mode",
     "valid_from",
     "valid_until",
     "state",
     "state_changed_at",
     "state_reason"
    ],
    "additionalProperties": false
   },
   "WebhookSetting": {
    "type": "object",
    "properties": {
     "url": {
      "type": [
       "string",
       "null"
      ],
      "format": "uri",
      "maxLength": 2000,
      "description": "https, with a host that resolves only to public addresses (not loopback, private, link-local such as 169.254.169.254, or the database's); null turns deliveries off"
     }
    },
    "required": [
     "url"
    ]
   },
   "Webhook": {
    "type": "object",
    "properties": {
     "url": {
      "type": [
       "string",
       "null"
      ]
     },
     "secret": {
      "type": "string",
      "description": "the signing secret, shown only when set or rotated"
     }
    },
    "required": [
     "url"
    ],
    "additionalProperties": false
   },
   "ProductPage": {
    "type": "object",
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Product"
      }
     },
     "next": {
      "type": [
       "string",
       "null"
      ],
      "description": "cursor for ?after=, null at the end"
     }
    },
    "required": [
     "items",
     "next"
    ],
    "additionalProperties": false
   },
   "DemandPage": {
    "type": "object",
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Demand"
      }
     },
     "next": {
      "type": [
       "string",
       "null"
      ],
      "description": "cursor for ?after=, null at the end"
     }
    },
    "required": [
     "items",
     "next"
    ],
    "additionalProperties": false
   },
   "MatchPage": {
    "type": "object",
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Match"
      }
     },
     "next": {
      "type": [
       "string",
       "null"
      ],
      "description": "cursor for ?after=, null at the end"
     }
    },
    "required": [
     "items",
     "next"
    ],
    "additionalProperties": false
   },
   "OrderPage": {
    "type": "object",
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Order"
      }
     },
     "next": {
      "type": [
       "string",
       "null"
      ],
      "description": "cursor for ?after=, null at the end"
     }
    },
    "required": [
     "items",
     "next"
    ],
    "additionalProperties": false
   },
   "ResourcePage": {
    "type": "object",
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Resource"
      }
     },
     "next": {
      "type": [
       "string",
       "null"
      ],
      "description": "cursor for ?after=, null at the end"
     }
    },
    "required": [
     "items",
     "next"
    ],
    "additionalProperties": false
   },
   "AuthorizationPage": {
    "type": "object",
    "properties": {
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Authorization"
      }
     },
     "next": {
      "type": [
       "string",
       "null"
      ],
      "description": "cursor for ?after=, null at the end"
     }
    },
    "required": [
     "items",
     "next"
    ],
    "additionalProperties": false
   },
   "NewProduct": {
    "allOf": [
     {
      "$ref": "#/components/schemas/ProductContent"
     },
     {
      "type": "object",
      "properties": {
       "authorization_id": {
        "type": "string",
        "format": "uuid"
       }
      },
      "required": [
       "authorization_id"
      ]
     }
    ]
   }
  },
  "responses": {
   "BadRequest": {
    "description": "invalid input or malformed JSON, naming the field",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Unauthorized": {
    "description": "no valid API key",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Forbidden": {
    "description": "the caller's role may not do this",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "NotFound": {
    "description": "no such object, or not the caller's",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Conflict": {
    "description": "the object's state does not allow this",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "TooLarge": {
    "description": "body larger than 1 MiB",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "RuleViolation": {
    "description": "a market rule refuses this, naming the rule",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "RateLimited": {
    "description": "the key exceeded its rate limit; see Retry-After",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Unavailable": {
    "description": "the database is unreachable; see Retry-After",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   }
  }
 }
}
"""#
}
