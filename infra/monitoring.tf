# Monitoring: an uptime check on every function's health route (through Cloudflare and
# the load balancer, as clients see it), log-based metrics from the structured request
# log (one JSON line per request: request_id, function, route, method, status,
# latency_ms, db_queries, db_ms), and alerts on 5xx share, latency and uptime.

locals {
  # 2nd gen functions log as Cloud Run revisions; the request line is the one with latency.
  request_log_filter = "resource.type=\"cloud_run_revision\" AND jsonPayload.request_id:* AND jsonPayload.latency_ms:*"
  request_labels = {
    function = "EXTRACT(jsonPayload.function)"
    route    = "EXTRACT(jsonPayload.route)"
    method   = "EXTRACT(jsonPayload.method)"
  }
  metric_prefix = "logging.googleapis.com/user"
}

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alert_emails)
  display_name = "Sealy alerts: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
}

resource "google_monitoring_uptime_check_config" "health" {
  for_each     = local.functions
  display_name = "sealy ${each.key} health"
  timeout      = "10s"
  period       = "60s"

  http_check {
    path           = "/v1/${each.key}/health"
    port           = 443
    request_method = "GET"
    use_ssl        = true
    validate_ssl   = true
    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  # The health route checks the database too: require "database": "ok".
  content_matchers {
    content = "^\"?ok\"?$"
    matcher = "MATCHES_JSON_PATH"
    json_path_matcher {
      json_path    = "$.database"
      json_matcher = "REGEX_MATCH"
    }
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = local.api_host
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "request_latency" {
  name             = "sealy_request_latency"
  description      = "Request latency (ms) from the structured request log."
  filter           = local.request_log_filter
  value_extractor  = "EXTRACT(jsonPayload.latency_ms)"
  label_extractors = local.request_labels

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
    dynamic "labels" {
      for_each = local.request_labels
      content {
        key        = labels.key
        value_type = "STRING"
      }
    }
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 40
      growth_factor      = 1.35
      scale              = 1
    }
  }
}

resource "google_logging_metric" "db_queries" {
  name             = "sealy_db_queries"
  description      = "SQL statements per request (the design bound is 1-3)."
  filter           = local.request_log_filter
  value_extractor  = "EXTRACT(jsonPayload.db_queries)"
  label_extractors = local.request_labels

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"
    dynamic "labels" {
      for_each = local.request_labels
      content {
        key        = labels.key
        value_type = "STRING"
      }
    }
  }

  bucket_options {
    linear_buckets {
      num_finite_buckets = 12
      width              = 1
      offset             = 0
    }
  }
}

resource "google_logging_metric" "requests" {
  name             = "sealy_requests"
  description      = "Requests, from the structured request log."
  filter           = local.request_log_filter
  label_extractors = { function = "EXTRACT(jsonPayload.function)" }

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
  }
}

resource "google_logging_metric" "server_errors" {
  name             = "sealy_server_errors"
  description      = "Responses with status >= 500, from the structured request log."
  filter           = "${local.request_log_filter} AND jsonPayload.status>=500"
  label_extractors = { function = "EXTRACT(jsonPayload.function)" }

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
  }
}

resource "google_monitoring_alert_policy" "server_errors" {
  display_name          = "Sealy: 5xx share above ${var.alert_5xx_ratio * 100}%"
  combiner              = "OR"
  notification_channels = [for c in google_monitoring_notification_channel.email : c.id]

  conditions {
    display_name = "5xx / requests, per function, over 5 min"
    condition_threshold {
      filter             = "metric.type=\"${local.metric_prefix}/${google_logging_metric.server_errors.name}\" AND resource.type=\"cloud_run_revision\""
      denominator_filter = "metric.type=\"${local.metric_prefix}/${google_logging_metric.requests.name}\" AND resource.type=\"cloud_run_revision\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_5xx_ratio
      duration           = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.function"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.function"]
      }
    }
  }

  documentation {
    content   = "A function answers too many requests with 5xx. Logs: jsonPayload.status>=500 AND jsonPayload.function=<function>; 503s mean the database was unavailable."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "latency" {
  display_name          = "Sealy: p95 latency above ${var.alert_latency_p95_ms} ms"
  combiner              = "OR"
  notification_channels = [for c in google_monitoring_notification_channel.email : c.id]

  conditions {
    display_name = "p95 latency per function over 5 min"
    condition_threshold {
      filter          = "metric.type=\"${local.metric_prefix}/${google_logging_metric.request_latency.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_latency_p95_ms
      duration        = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
        group_by_fields      = ["metric.label.function"]
      }
    }
  }

  documentation {
    content   = "A function is slow. Compare sealy_db_queries (statements per request) and the request log's db_ms with latency_ms."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "uptime" {
  display_name          = "Sealy: health check failing"
  combiner              = "OR"
  notification_channels = [for c in google_monitoring_notification_channel.email : c.id]

  conditions {
    display_name = "Health check fails from 2+ regions"
    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id=one_of(${join(",", [for c in google_monitoring_uptime_check_config.health : "\"${c.uptime_check_id}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "120s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.host", "metric.label.check_id"]
      }
    }
  }

  documentation {
    content   = "A function's /v1/<function>/health fails through Cloudflare and the load balancer (function down, database down, certificate or Cloud Armor problem)."
    mime_type = "text/markdown"
  }
}
