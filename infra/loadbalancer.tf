# Global external Application Load Balancer in front of the functions:
#   Cloudflare -> 443 (Origin CA certificate, Cloud Armor: Cloudflare's ranges only)
#   -> URL map: /v1/<fn> and /v1/<fn>/* -> backend service -> serverless NEG -> function.
# Port 80 only redirects to HTTPS.

resource "google_compute_global_address" "api" {
  name       = "sealy-api"
  depends_on = [google_project_service.apis]
}

# 2nd gen functions are Cloud Run services of the same name: the NEG points at it.
resource "google_compute_region_network_endpoint_group" "function" {
  for_each              = local.functions
  name                  = "sealy-${each.key}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloudfunctions2_function.function[each.key].name
  }
}

resource "google_compute_backend_service" "function" {
  for_each              = local.functions
  name                  = "sealy-${each.key}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.cloudflare_only.id

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "api" {
  name = "sealy-api"
  # Requests for another host name never reach a function.
  default_url_redirect {
    host_redirect          = var.domain
    https_redirect         = true
    redirect_response_code = "FOUND"
    strip_query            = true
  }

  host_rule {
    hosts        = [local.api_host]
    path_matcher = "api"
  }

  path_matcher {
    name = "api"
    # Unknown paths on the API host: a redirect to the site, not a function's cold start.
    default_url_redirect {
      host_redirect          = var.domain
      https_redirect         = true
      redirect_response_code = "FOUND"
      strip_query            = true
    }

    dynamic "path_rule" {
      for_each = local.functions
      content {
        paths   = ["/v1/${path_rule.key}", "/v1/${path_rule.key}/*"]
        service = google_compute_backend_service.function[path_rule.key].id
      }
    }
  }
}

resource "google_compute_ssl_certificate" "origin" {
  name_prefix = "sealy-origin-"
  certificate = var.origin_certificate_pem
  private_key = var.origin_private_key_pem

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_ssl_policy" "modern" {
  name            = "sealy-tls12"
  profile         = "RESTRICTED"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "api" {
  name             = "sealy-api"
  url_map          = google_compute_url_map.api.id
  ssl_certificates = [google_compute_ssl_certificate.origin.id]
  ssl_policy       = google_compute_ssl_policy.modern.id
}

resource "google_compute_global_forwarding_rule" "https" {
  name                  = "sealy-api-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.api.id
}

resource "google_compute_url_map" "http_redirect" {
  name = "sealy-api-http-redirect"
  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  name    = "sealy-api-http"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "sealy-api-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect.id
}

# --- Cloud Armor: only Cloudflare may talk to the origin ------------------------------

data "cloudflare_ip_ranges" "current" {}

locals {
  cloudflare_ranges = concat(
    data.cloudflare_ip_ranges.current.ipv4_cidrs,
    data.cloudflare_ip_ranges.current.ipv6_cidrs,
  )
}

resource "google_compute_security_policy" "cloudflare_only" {
  name        = "sealy-cloudflare-only"
  description = "Admit only Cloudflare's address ranges; deny everything else."

  # Log4j lookups are blocked even from Cloudflare (defence in depth; nothing here is Java).
  rule {
    action   = "deny(403)"
    priority = 900
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('cve-canary')"
      }
    }
    description = "CVE-2021-44228 / CVE-2021-45046"
  }

  # A rule matches at most 10 ranges: one rule per 10 of Cloudflare's.
  dynamic "rule" {
    for_each = chunklist(local.cloudflare_ranges, 10)
    content {
      action   = "allow"
      priority = 1000 + rule.key
      match {
        versioned_expr = "SRC_IPS_V1"
        config {
          src_ip_ranges = rule.value
        }
      }
      description = "Cloudflare ranges, part ${rule.key + 1}"
    }
  }

  rule {
    action   = "deny(403)"
    priority = 2147483647
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    description = "Everything that is not Cloudflare"
  }
}
