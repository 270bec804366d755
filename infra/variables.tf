# Everything project-specific. Example values: terraform.tfvars.example.

variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of the functions, the database, the connector and the scheduler."
  type        = string
  default     = "europe-west1"
}

variable "domain" {
  description = "The Cloudflare zone (e.g. example.com). The API is served at <api_subdomain>.<domain>."
  type        = string
}

variable "api_subdomain" {
  description = "Subdomain of the API host."
  type        = string
  default     = "api"
}

variable "cloudflare_zone_id" {
  description = "Cloudflare zone id of var.domain."
  type        = string
}

variable "origin_certificate_pem" {
  description = "Cloudflare Origin CA certificate for the API host (PEM), served by the load balancer."
  type        = string
}

variable "origin_private_key_pem" {
  description = "Private key of the origin certificate (PEM). Kept in Terraform state: the state bucket is private."
  type        = string
  sensitive   = true
}

variable "secret_versions" {
  description = "Pinned Secret Manager version of every secret (numbers, never \"latest\"): an instance reads its secrets once, at start."
  type        = map(string)

  validation {
    condition     = alltrue([for v in values(var.secret_versions) : can(regex("^[0-9]+$", v))])
    error_message = "secret_versions values must be version numbers, not \"latest\"."
  }
}

variable "jwt_signing_kid" {
  description = "Key id (kid) of the current JWT signing key, given to the functions that sign tokens."
  type        = string
}

variable "firebase_project_id" {
  description = "Firebase project used for push notifications (FCM); defaults to project_id."
  type        = string
  default     = null
}

variable "github_owner" {
  description = "GitHub owner (organization or user) of the repository that deploys through Workload Identity Federation."
  type        = string
}

variable "github_repo" {
  description = "GitHub repository name (without the owner); its main branch may deploy."
  type        = string
}

variable "sql_tier" {
  description = "Cloud SQL machine tier; it must allow database.max_connections from functions.json."
  type        = string
  default     = "db-custom-2-8192"
}

variable "sql_availability_type" {
  description = "REGIONAL (high availability, recommended) or ZONAL."
  type        = string
  default     = "REGIONAL"
}

variable "sql_database_version" {
  description = "Cloud SQL PostgreSQL major version."
  type        = string
  default     = "POSTGRES_18"
}

variable "sql_public_ip" {
  description = "Give the instance a public IP without authorized networks, reachable only through the Cloud SQL connector / Auth Proxy (IAM + mTLS), so the CI migrations job can reach it. Functions always use the private IP."
  type        = bool
  default     = true
}

variable "db_admin_users" {
  description = "Google accounts (emails) that get a Cloud SQL IAM login, for migrations by hand and incident work."
  type        = list(string)
  default     = []
}

variable "vpc_connector_cidr" {
  description = "Unused /28 for the Serverless VPC Access connector; must not overlap private_services_cidr."
  type        = string
  default     = "10.8.0.0/28"

  validation {
    condition     = can(cidrhost(var.vpc_connector_cidr, 0)) && endswith(var.vpc_connector_cidr, "/28")
    error_message = "vpc_connector_cidr must be an IPv4 /28, e.g. 10.8.0.0/28."
  }
}

variable "private_services_cidr" {
  description = "Range reserved for Google's private services (Cloud SQL's private IP), pinned so it cannot overlap the connector's range."
  type        = string
  default     = "10.16.0.0/20"

  validation {
    condition     = can(cidrhost(var.private_services_cidr, 0)) && tonumber(split("/", var.private_services_cidr)[1]) <= 24
    error_message = "private_services_cidr must be an IPv4 range of /24 or larger, e.g. 10.16.0.0/20."
  }
}

variable "cors_origins" {
  description = "Browser origins allowed to call the API (CORS_ORIGINS, exact match), e.g. [\"https://app.example.com\"]. Empty: no browser origin."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_origins : can(regex("^https?://[a-z0-9.-]+(:[0-9]+)?$", o))])
    error_message = "cors_origins entries are exact origins: scheme://host[:port], lower case, no path and no trailing slash."
  }
}

variable "google_client_ids" {
  description = "Client ids whose Google ID tokens sign in (GOOGLE_CLIENT_IDS of auth and users): the Android, iOS and web clients. Empty: Google sign-in is refused."
  type        = list(string)
  default     = []
}

variable "apple_client_ids" {
  description = "Client ids whose Apple ID tokens sign in (APPLE_CLIENT_IDS of auth and users): the app's bundle id and the Services ID. Empty: Apple sign-in is refused."
  type        = list(string)
  default     = []
}

variable "smtp_host" {
  description = "The mail relay for reset and verification codes (SMTP_HOST of auth and notifications; both refuse to start without it)."
  type        = string
}

variable "smtp_port" {
  description = "The relay's port (SMTP_PORT); STARTTLS is required."
  type        = number
  default     = 587
}

variable "smtp_user" {
  description = "The relay's user name (SMTP_USER); its password is the smtp-password secret. Empty: no AUTH."
  type        = string
  default     = ""
}

variable "smtp_from" {
  description = "The sender of the codes' mails (SMTP_FROM), e.g. \"Sealy <no-reply@example.com>\"."
  type        = string
}

variable "alert_emails" {
  description = "Addresses that receive alert notifications."
  type        = list(string)
  default     = []
}

variable "alert_5xx_ratio" {
  description = "Alert when a function's share of 5xx responses over 5 minutes exceeds this."
  type        = number
  default     = 0.02
}

variable "alert_latency_p95_ms" {
  description = "Alert when a function's 95th percentile latency over 5 minutes exceeds this (ms)."
  type        = number
  default     = 800
}
