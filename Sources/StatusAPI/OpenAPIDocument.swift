import Foundation
import Hummingbird
import Store

/// `GET /openapi.json`: the OpenAPI 3 description of every route. Hand-written (the API is small and a contract);
/// `make test` runs schemathesis against a live daemon with it, so a route that drifts from it fails the build.
public enum OpenAPIDocument {
    public static func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/openapi.json") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
    }

    /// Every (method, route template) served, for 405 answers (`UnmatchedRouteMiddleware`).
    public static let routes: [(method: String, path: String)] = [
        ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/openapi.json"),
        ("GET", "/api/videos"), ("POST", "/api/videos"), ("GET", "/api/videos/"), ("POST", "/api/videos/"), ("POST", "/api/videos/youtube"),
        ("GET", "/api/videos/{video_id}"), ("GET", "/api/videos/{video_id}/status"),
        ("GET", "/api/videos/{video_id}/events"), ("GET", "/api/videos/{video_id}/stream"),
        ("PUT", "/api/videos/{video_id}/file"),
    ]

    /// The document served: `/api/videos/` (the seed's spelling, trailing slash) is described by the same path
    /// item as `/api/videos`, copied here rather than written twice.
    public static let json: String = {
        guard var doc = try? JSONSerialization.jsonObject(with: Data(source.utf8)) as? [String: Any],
              var paths = doc["paths"] as? [String: Any] else { return source }
        paths["/api/videos/"] = paths["/api/videos"]
        doc["paths"] = paths
        // The reasons come from the enum the daemon writes, so the document cannot drift from it.
        if var components = doc["components"] as? [String: Any], var schemas = components["schemas"] as? [String: Any] {
            schemas["FailureReason"] = [
                "type": "string", "nullable": true,
                "description": "Why a failed job failed, in one word (see README, Database); null unless status is failed.",
                "enum": FailureReason.allCases.map(\.rawValue) as [Any] + [NSNull()],
            ] as [String: Any]
            components["schemas"] = schemas
            doc["components"] = components
        }
        guard let data = try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .withoutEscapingSlashes]) else { return source }
        return String(decoding: data, as: UTF8.self)
    }()

    private static let source = #"""
    {
      "openapi": "3.0.3",
      "info": {
        "title": "inboxd",
        "version": "1",
        "description": "Read-only job status API and HTTP upload receiver of inboxd. Errors are JSON {\"error\", \"detail\"}."
      },
      "components": {
        "securitySchemes": {
          "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `inboxd user add`."
          }
        },
        "parameters": {
          "VideoID": {
            "name": "video_id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string",
              "pattern": "^[0-9A-Za-z-]{1,64}$"
            },
            "description": "A job's video_id (a UUID; legacy ids may be other short tokens)."
          }
        },
        "responses": {
          "BadRequest": {
            "description": "Malformed request",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "Unauthorized": {
            "description": "Missing, unknown or revoked token",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "Forbidden": {
            "description": "The token's user lacks the needed flag",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "NotFound": {
            "description": "No such video",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "Conflict": {
            "description": "The video id is taken",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "TooLarge": {
            "description": "Body exceeds max_upload_bytes",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "UnsupportedMediaType": {
            "description": "Wrong Content-Type",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "InsufficientStorage": {
            "description": "Inbox filesystem below min_free_bytes",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "Accepted": {
            "description": "Upload accepted; processing runs in the background",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/UploadAccepted"
                }
              }
            }
          }
        },
        "schemas": {
          "Error": {
            "type": "object",
            "required": [
              "error",
              "detail"
            ],
            "properties": {
              "error": {
                "type": "string"
              },
              "detail": {
                "type": "string"
              }
            }
          },
          "Status": {
            "type": "string",
            "enum": [
              "processing",
              "ready",
              "failed"
            ]
          },
          "Visibility": {
            "type": "string",
            "enum": [
              "draft",
              "private",
              "published"
            ]
          },
          "UploadAccepted": {
            "type": "object",
            "required": [
              "video_id",
              "title",
              "description",
              "status",
              "video_url",
              "thumbnail_url",
              "created_at",
              "user_id",
              "username"
            ],
            "properties": {
              "video_id": {
                "type": "string"
              },
              "title": {
                "type": "string"
              },
              "description": {
                "type": "string"
              },
              "status": {
                "type": "string",
                "enum": [
                  "processing"
                ]
              },
              "video_url": {
                "type": "string",
                "enum": [
                  "processing"
                ]
              },
              "thumbnail_url": {
                "type": "string",
                "enum": [
                  "processing"
                ]
              },
              "created_at": {
                "type": "string"
              },
              "user_id": {
                "type": "string"
              },
              "username": {
                "type": "string"
              }
            }
          },
          "VideoStatus": {
            "type": "object",
            "required": [
              "video_id",
              "status",
              "title",
              "created_at",
              "phase",
              "progress",
              "error",
              "failure_reason",
              "attempts",
              "next_attempt_at",
              "video_url",
              "thumbnail_url",
              "updated_at",
              "eta_s"
            ],
            "properties": {
              "video_id": {
                "type": "string"
              },
              "status": {
                "$ref": "#/components/schemas/Status"
              },
              "title": {
                "type": "string"
              },
              "created_at": {
                "type": "string"
              },
              "phase": {
                "type": "string"
              },
              "progress": {
                "type": "number",
                "minimum": 0,
                "maximum": 1
              },
              "error": {
                "type": "string",
                "nullable": true
              },
              "failure_reason": {
                "$ref": "#/components/schemas/FailureReason"
              },
              "attempts": {
                "type": "integer",
                "minimum": 0,
                "description": "Processing attempts so far, counted before each starts"
              },
              "next_attempt_at": {
                "type": "string",
                "nullable": true,
                "description": "When a job in phase retrying runs again (ISO 8601 UTC), else null"
              },
              "video_url": {
                "type": "string"
              },
              "thumbnail_url": {
                "type": "string"
              },
              "updated_at": {
                "type": "string"
              },
              "eta_s": {
                "type": "number",
                "nullable": true,
                "minimum": 0,
                "description": "Estimated seconds to ready, from the progress rate; null when unknown."
              }
            }
          },
          "Video": {
            "type": "object",
            "required": [
              "video_id",
              "title",
              "description",
              "status",
              "visibility",
              "phase",
              "progress",
              "video_url",
              "thumbnail_url",
              "attempts",
              "source",
              "created_at",
              "updated_at"
            ],
            "properties": {
              "video_id": {
                "type": "string"
              },
              "title": {
                "type": "string"
              },
              "description": {
                "type": "string"
              },
              "user_id": {
                "type": "string",
                "nullable": true
              },
              "username": {
                "type": "string",
                "nullable": true
              },
              "status": {
                "$ref": "#/components/schemas/Status"
              },
              "visibility": {
                "$ref": "#/components/schemas/Visibility"
              },
              "phase": {
                "type": "string"
              },
              "progress": {
                "type": "number"
              },
              "video_url": {
                "type": "string"
              },
              "thumbnail_url": {
                "type": "string"
              },
              "error": {
                "type": "string",
                "nullable": true
              },
              "failure_reason": {
                "$ref": "#/components/schemas/FailureReason"
              },
              "attempts": {
                "type": "integer"
              },
              "next_attempt_at": {
                "type": "string",
                "nullable": true
              },
              "source": {
                "type": "string",
                "enum": [
                  "http",
                  "drop",
                  "url"
                ]
              },
              "source_url": {
                "type": "string",
                "nullable": true
              },
              "sidecar": {
                "type": "string",
                "nullable": true
              },
              "created_at": {
                "type": "string"
              },
              "updated_at": {
                "type": "string"
              },
              "started_at": {
                "type": "string",
                "nullable": true
              },
              "finished_at": {
                "type": "string",
                "nullable": true
              },
              "duration_s": {
                "type": "number",
                "nullable": true
              },
              "width": {
                "type": "integer",
                "nullable": true
              },
              "height": {
                "type": "integer",
                "nullable": true
              },
              "video_codec": {
                "type": "string",
                "nullable": true
              },
              "audio_codec": {
                "type": "string",
                "nullable": true
              },
              "size_bytes": {
                "type": "integer",
                "nullable": true
              }
            }
          },
          "Event": {
            "type": "object",
            "required": [
              "video_id",
              "at",
              "status"
            ],
            "properties": {
              "id": {
                "type": "integer"
              },
              "video_id": {
                "type": "string"
              },
              "at": {
                "type": "string"
              },
              "status": {
                "type": "string"
              },
              "phase": {
                "type": "string",
                "nullable": true
              },
              "message": {
                "type": "string",
                "nullable": true
              }
            }
          }
        }
      },
      "paths": {
        "/healthz": {
          "get": {
            "summary": "Liveness: the db is readable",
            "responses": {
              "200": {
                "description": "OK",
                "content": {
                  "application/json": {
                    "schema": {
                      "type": "object",
                      "required": [
                        "status"
                      ],
                      "properties": {
                        "status": {
                          "type": "string",
                          "enum": [
                            "ok"
                          ]
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        },
        "/metrics": {
          "get": {
            "summary": "Prometheus metrics",
            "responses": {
              "200": {
                "description": "Prometheus text format",
                "content": {
                  "text/plain": {
                    "schema": {
                      "type": "string"
                    }
                  }
                }
              }
            }
          }
        },
        "/openapi.json": {
          "get": {
            "summary": "This document",
            "responses": {
              "200": {
                "description": "OpenAPI 3",
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
        "/api/videos": {
          "get": {
            "summary": "List jobs (admins)",
            "security": [
              {
                "bearer": []
              }
            ],
            "parameters": [
              {
                "name": "status",
                "in": "query",
                "schema": {
                  "$ref": "#/components/schemas/Status"
                }
              },
              {
                "name": "user",
                "in": "query",
                "schema": {
                  "type": "string"
                },
                "description": "username or user_id"
              },
              {
                "name": "limit",
                "in": "query",
                "schema": {
                  "type": "integer",
                  "minimum": 1,
                  "maximum": 500,
                  "default": 50
                }
              },
              {
                "name": "cursor",
                "in": "query",
                "schema": {
                  "type": "string",
                  "pattern": "^([0-9a-f]{2}){1,64}\\.[0-9A-Za-z-]{1,64}$"
                },
                "description": "next_cursor of the previous page (opaque)"
              }
            ],
            "responses": {
              "200": {
                "description": "A page of jobs in (created_at, video_id) order",
                "content": {
                  "application/json": {
                    "schema": {
                      "type": "object",
                      "required": [
                        "items",
                        "next_cursor"
                      ],
                      "properties": {
                        "items": {
                          "type": "array",
                          "items": {
                            "$ref": "#/components/schemas/Video"
                          }
                        },
                        "next_cursor": {
                          "type": "string",
                          "nullable": true
                        }
                      }
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
              }
            }
          },
          "post": {
            "summary": "Upload a video (multipart/form-data)",
            "security": [
              {
                "bearer": []
              }
            ],
            "requestBody": {
              "required": true,
              "content": {
                "multipart/form-data": {
                  "schema": {
                    "type": "object",
                    "required": [
                      "video",
                      "title"
                    ],
                    "properties": {
                      "video": {
                        "type": "string",
                        "format": "binary"
                      },
                      "thumbnail": {
                        "type": "string",
                        "format": "binary"
                      },
                      "title": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 200,
                        "pattern": "\\S",
                        "description": "1-200 characters, not blank"
                      },
                      "description": {
                        "type": "string"
                      },
                      "visibility": {
                        "$ref": "#/components/schemas/Visibility"
                      }
                    }
                  },
                  "encoding": {
                    "video": {
                      "contentType": "application/octet-stream"
                    },
                    "thumbnail": {
                      "contentType": "application/octet-stream"
                    }
                  }
                }
              }
            },
            "responses": {
              "202": {
                "$ref": "#/components/responses/Accepted"
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
              "413": {
                "$ref": "#/components/responses/TooLarge"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              },
              "507": {
                "$ref": "#/components/responses/InsufficientStorage"
              }
            }
          }
        },
        "/api/videos/youtube": {
          "post": {
            "summary": "Ingest a video from a URL",
            "security": [
              {
                "bearer": []
              }
            ],
            "requestBody": {
              "required": true,
              "content": {
                "application/json": {
                  "schema": {
                    "type": "object",
                    "required": [
                      "url",
                      "title"
                    ],
                    "properties": {
                      "url": {
                        "type": "string",
                        "pattern": "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?(\\?[A-Za-z0-9._~%&=+-]*)?$"
                      },
                      "title": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 200,
                        "pattern": "\\S",
                        "description": "1-200 characters, not blank"
                      },
                      "description": {
                        "type": "string"
                      },
                      "visibility": {
                        "$ref": "#/components/schemas/Visibility"
                      },
                      "start_s": {
                        "type": "number",
                        "minimum": 0
                      },
                      "duration_s": {
                        "type": "number",
                        "exclusiveMinimum": true,
                        "minimum": 0
                      }
                    }
                  }
                }
              }
            },
            "responses": {
              "202": {
                "$ref": "#/components/responses/Accepted"
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
              "413": {
                "$ref": "#/components/responses/TooLarge"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              },
              "507": {
                "$ref": "#/components/responses/InsufficientStorage"
              }
            }
          }
        },
        "/api/videos/{video_id}": {
          "get": {
            "summary": "The whole job row",
            "parameters": [
              {
                "$ref": "#/components/parameters/VideoID"
              }
            ],
            "responses": {
              "200": {
                "description": "The row",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Video"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "404": {
                "$ref": "#/components/responses/NotFound"
              }
            }
          }
        },
        "/api/videos/{video_id}/status": {
          "get": {
            "summary": "The seed's status answer plus phase, progress and ETA",
            "parameters": [
              {
                "$ref": "#/components/parameters/VideoID"
              }
            ],
            "responses": {
              "200": {
                "description": "Status",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/VideoStatus"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "404": {
                "$ref": "#/components/responses/NotFound"
              }
            }
          }
        },
        "/api/videos/{video_id}/events": {
          "get": {
            "summary": "The job's audit log, oldest first",
            "parameters": [
              {
                "$ref": "#/components/parameters/VideoID"
              }
            ],
            "responses": {
              "200": {
                "description": "Events",
                "content": {
                  "application/json": {
                    "schema": {
                      "type": "object",
                      "required": [
                        "video_id",
                        "events"
                      ],
                      "properties": {
                        "video_id": {
                          "type": "string"
                        },
                        "events": {
                          "type": "array",
                          "items": {
                            "$ref": "#/components/schemas/Event"
                          }
                        }
                      }
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "404": {
                "$ref": "#/components/responses/NotFound"
              }
            }
          }
        },
        "/api/videos/{video_id}/stream": {
          "get": {
            "summary": "Server-Sent Events: the status JSON on every change until the job is ready or failed",
            "parameters": [
              {
                "$ref": "#/components/parameters/VideoID"
              }
            ],
            "responses": {
              "200": {
                "description": "event: status / data: VideoStatus JSON; ': ping' heartbeats",
                "content": {
                  "text/event-stream": {
                    "schema": {
                      "type": "object",
                      "description": "One SSE event: `event: status`, `id: N`, `data:` the VideoStatus JSON; or `retry`.",
                      "properties": {
                        "event": {
                          "type": "string",
                          "enum": [
                            "status"
                          ]
                        },
                        "id": {
                          "type": "string",
                          "pattern": "^[0-9]+$"
                        },
                        "data": {
                          "type": "string"
                        },
                        "retry": {
                          "type": "integer"
                        }
                      }
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "404": {
                "$ref": "#/components/responses/NotFound"
              }
            }
          }
        },
        "/api/videos/{video_id}/file": {
          "put": {
            "summary": "Upload a video as the raw body (curl -T); the client picks the UUID",
            "security": [
              {
                "bearer": []
              }
            ],
            "parameters": [
              {
                "name": "video_id",
                "in": "path",
                "required": true,
                "schema": {
                  "type": "string",
                  "format": "uuid"
                }
              },
              {
                "name": "title",
                "in": "query",
                "required": true,
                "schema": {
                  "type": "string",
                  "minLength": 1,
                  "maxLength": 200,
                  "pattern": "\\S",
                  "description": "1-200 characters, not blank"
                }
              },
              {
                "name": "description",
                "in": "query",
                "schema": {
                  "type": "string"
                }
              },
              {
                "name": "visibility",
                "in": "query",
                "schema": {
                  "$ref": "#/components/schemas/Visibility"
                }
              },
              {
                "name": "filename",
                "in": "query",
                "schema": {
                  "type": "string"
                },
                "description": "Original file name; its extension names the media file."
              }
            ],
            "requestBody": {
              "required": true,
              "content": {
                "application/octet-stream": {
                  "schema": {
                    "type": "string",
                    "format": "binary"
                  }
                },
                "video/mp4": {
                  "schema": {
                    "type": "string",
                    "format": "binary"
                  }
                }
              }
            },
            "responses": {
              "202": {
                "$ref": "#/components/responses/Accepted"
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
              "409": {
                "$ref": "#/components/responses/Conflict"
              },
              "413": {
                "$ref": "#/components/responses/TooLarge"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              },
              "507": {
                "$ref": "#/components/responses/InsufficientStorage"
              }
            }
          }
        }
      }
    }
    """#
}
