/// Request bodies in the shapes real A1111 clients send (sizes and steps made small for the
/// built-in model). Sources, read on GitHub:
/// - SillyTavern `public/scripts/extensions/stable-diffusion/index.js`, `generateAutoImage`: its
///   server forwards this body to `/sdapi/v1/txt2img` (hires-fix fields always present, `seed`
///   only when not random, clip skip both in `override_settings` and at the top for SD.Next).
/// - Open WebUI `backend/open_webui/routers/images.py`, engine `automatic1111`: prompt,
///   `batch_size` (its `n`), size and steps, plus the admin's `AUTOMATIC1111_PARAMS` merged in
///   (here cfg scale, sampler and scheduler); no seed.
/// - A script written against A1111's `/docs` (the `StableDiffusionProcessingTxt2Img` model as
///   FastAPI lists it): the whole model with `sampler_index`, `override_settings` choosing the
///   checkpoint and clip skip, and `n_iter`.
/// - An img2img inpainting body as A1111's API takes it: `init_images` as a data URL, `mask` as
///   plain base64, A1111's inpainting knobs. `__INIT__` and `__MASK__` stand for the pictures.
enum A1111Fixtures {
    static let sillyTavernTxt2Img = #"""
        {
          "url": "http://127.0.0.1:7860",
          "prompt": "a red circle on a blue background",
          "negative_prompt": "lowres, bad anatomy",
          "sampler_name": "DPM++ 2M",
          "scheduler": "Karras",
          "steps": 3,
          "cfg_scale": 7,
          "width": 64,
          "height": 64,
          "restore_faces": false,
          "enable_hr": false,
          "hr_upscaler": "Latent",
          "hr_scale": 2,
          "hr_additional_modules": [],
          "denoising_strength": 0.7,
          "hr_second_pass_steps": 0,
          "seed": 1234,
          "override_settings": {"CLIP_stop_at_last_layers": 1},
          "override_settings_restore_afterwards": true,
          "clip_skip": 1,
          "save_images": true,
          "send_images": true,
          "do_not_save_grid": false,
          "do_not_save_samples": false
        }
        """#

    static let openWebUITxt2Img = #"""
        {"prompt": "a green triangle", "batch_size": 2, "width": 64, "height": 64, "steps": 2,
         "negative_prompt": "blurry", "cfg_scale": 6.5, "sampler_name": "Euler a", "scheduler": "Automatic"}
        """#

    static let scriptTxt2Img = #"""
        {
          "enable_hr": false, "denoising_strength": 0, "firstphase_width": 0, "firstphase_height": 0,
          "hr_scale": 2, "hr_upscaler": "", "hr_second_pass_steps": 0, "hr_resize_x": 0, "hr_resize_y": 0,
          "hr_sampler_name": "", "hr_prompt": "", "hr_negative_prompt": "",
          "prompt": "a yellow square", "styles": [], "seed": 42, "subseed": -1, "subseed_strength": 0,
          "seed_resize_from_h": -1, "seed_resize_from_w": -1, "sampler_name": null, "batch_size": 1, "n_iter": 2,
          "steps": 2, "cfg_scale": 7, "width": 64, "height": 64, "restore_faces": false, "tiling": false,
          "do_not_save_samples": false, "do_not_save_grid": false, "negative_prompt": "", "eta": 0,
          "s_min_uncond": 0, "s_churn": 0, "s_tmax": 0, "s_tmin": 0, "s_noise": 1,
          "override_settings": {"sd_model_checkpoint": "tiny-shapes.safetensors [0123456789]", "CLIP_stop_at_last_layers": 2},
          "override_settings_restore_afterwards": true, "refiner_switch_at": 0, "disable_extra_networks": false,
          "comments": {}, "sampler_index": "Euler", "script_name": null, "script_args": [], "send_images": true,
          "save_images": false, "alwayson_scripts": {}
        }
        """#

    static let inpaintingImg2Img = #"""
        {
          "init_images": ["data:image/png;base64,__INIT__"],
          "mask": "__MASK__",
          "prompt": "a yellow square",
          "negative_prompt": "",
          "resize_mode": 0,
          "denoising_strength": 0.6,
          "mask_blur": 4,
          "inpainting_fill": 1,
          "inpaint_full_res": false,
          "inpaint_full_res_padding": 32,
          "inpainting_mask_invert": 0,
          "initial_noise_multiplier": 1,
          "sampler_name": "Euler a",
          "steps": 4,
          "cfg_scale": 7,
          "width": 64,
          "height": 64,
          "seed": 99,
          "batch_size": 1,
          "n_iter": 1,
          "include_init_images": false
        }
        """#
}
