# Secret Manager: one secret per name used in functions.json. Values are added out of
# band (`gcloud secrets versions add`, docs/deployment.md) so they never enter the
# Terraform state; functions reference them at the pinned versions in var.secret_versions.

resource "google_secret_manager_secret" "main" {
  for_each  = local.secret_names
  secret_id = each.value

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# Each function reads only the secrets listed for it (only auth reads jwt-signing-key).
resource "google_secret_manager_secret_iam_member" "function" {
  for_each  = local.secret_access
  secret_id = google_secret_manager_secret.main[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}

check "secret_versions_pinned" {
  assert {
    condition     = length(setsubtract(local.secret_names, keys(var.secret_versions))) == 0
    error_message = "var.secret_versions needs a version for every secret in functions.json."
  }
}
