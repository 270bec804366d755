# Terraform and provider versions, and the remote state.
#
# Versions are pinned to a minor series here; `terraform init` writes the exact
# versions and their checksums to .terraform.lock.hcl, which is committed.
terraform {
  # templatestring() (1.9) renders the templates in functions.json.
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.19"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
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
