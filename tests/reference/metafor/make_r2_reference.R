# Pseudo-R^2 of metafor's rma() where the model without moderators has no heterogeneity, and for the
# equal-effects model. Run from this folder: Rscript make_r2_reference.R  (writes metafor_r2_values.json)
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
h <- read.csv("dat_homogeneous.csv")
bcg <- read.csv("dat_bcg.csv")
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
fit <- function(f) list(R2_percent = f$R2, tau2 = f$tau2, beta = unname(c(f$beta)), se = unname(f$se))
out <- list(
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  homogeneous_reml_x = fit(rma(yi, vi, mods = ~ x, data = h)),
  homogeneous_reml_only = list(tau2 = rma(yi, vi, data = h)$tau2),
  homogeneous_dl_x = fit(rma(yi, vi, mods = ~ x, data = h, method = "DL")),
  homogeneous_fe_x = fit(rma(yi, vi, mods = ~ x, data = h, method = "FE")),
  bcg_fe_ablat_year = fit(rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "FE")),
  bcg_fe_alloc = fit(rma(yi, vi, mods = ~ factor(alloc), data = bcg, method = "FE"))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "metafor_r2_values.json")
