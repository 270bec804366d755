# Cloudflare: the API host is a proxied record pointing at the load balancer, and the
# zone verifies the origin certificate (SSL mode Full (strict)).

resource "cloudflare_dns_record" "api" {
  zone_id = var.cloudflare_zone_id
  name    = local.api_host
  type    = "A"
  content = google_compute_global_address.api.address
  proxied = true
  ttl     = 1 # automatic (required for proxied records)
  comment = "Sealy API: Google external Application Load Balancer"
}

resource "cloudflare_zone_setting" "ssl" {
  zone_id    = var.cloudflare_zone_id
  setting_id = "ssl"
  value      = "strict"
}

resource "cloudflare_zone_setting" "always_use_https" {
  zone_id    = var.cloudflare_zone_id
  setting_id = "always_use_https"
  value      = "on"
}

resource "cloudflare_zone_setting" "min_tls_version" {
  zone_id    = var.cloudflare_zone_id
  setting_id = "min_tls_version"
  value      = "1.2"
}
