# Cloud Scheduler: every schedules[] entry in functions.json (notifications/dispatch
# every minute) is called through the public API host with a Google-signed OIDC token.
# The audience is the URL itself, which the function gets as DISPATCH_AUDIENCE, and the
# token's email is the scheduler account (DISPATCH_SERVICE_ACCOUNT): the function must
# check both.

resource "google_cloud_scheduler_job" "function" {
  for_each         = local.schedules
  name             = "sealy-${each.value.function}-${each.value.name}"
  region           = var.region
  schedule         = each.value.cron
  time_zone        = "Etc/UTC"
  attempt_deadline = "${local.functions[each.value.function].timeout_s}s"

  retry_config {
    retry_count = 0 # the next minute's run picks up what this one missed
  }

  http_target {
    http_method = each.value.method
    uri         = "https://${local.api_host}${each.value.path}"

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = "https://${local.api_host}${each.value.path}"
    }
  }

  depends_on = [google_project_service.apis]
}
