# Terraform and provider versions, and the remote state.
#
# Each provider is pinned to the patch series whose schema facts infra/provider-schemas/
# holds (scripts/check_infra_schema.py checks infra/ against them and refuses a looser
# pin). To move to a newer provider: regenerate its facts from that tag
# (docs/deployment.md, "Provider schema facts"), change the pin here, run `make lint`.
# The first `terraform init` writes .terraform.lock.hcl (exact versions and checksums);
# commit it then: it cannot be written here, where the registry is out of reach.
terraform {
  # templatestring() (1.9) renders the templates in functions.json.
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.45.0"
    }
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.22.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.8.0"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.14.0"
    }
  }

  # State lives in a versioned GCS bucket created once by hand (docs/deployment.md,
  # "Bootstrap"). The bucket is given at init time, since backends take no variables:
  #   terraform init -backend-config="bucket=<project>-sealy-tfstate"
  backend "gcs" {
    prefix = "sealy/infra"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

# Reads CLOUDFLARE_API_TOKEN from the environment (Zone: DNS Edit, Zone Settings Edit).
provider "cloudflare" {}
