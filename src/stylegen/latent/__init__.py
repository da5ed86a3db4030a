"""Style control: the library under `stylegen mix / interpolate / project / directions / edit`
and the web explorer. Each module names its paper.

config.py        settings the CLI reads its defaults from (no torch): spaces, projection, PTI
layers.py        which ws indices are coarse / middle / fine; style affines (Karras et al. 2019)
ws.py            seeds -> ws, the ws file (safetensors + metadata), rendering saved ws
noise.py         per-sample noise maps of StyleGAN2 and the projector's noise regulariser
mixing.py        style mixing grids (Karras et al. 2019)
interpolate.py   slerp in Z / lerp in W walks, grids of walks, class walks
video.py         MP4 (imageio-ffmpeg) or GIF (Pillow) by suffix
perceptual.py    the projection distance: LPIPS VGG-16 or an LPIPS-style FID Inception distance
targets.py       target images: crop, resize, convert, with notes
project.py       projection into W / W+ with noise optimisation (Karras et al. 2020)
pti.py           pivotal tuning (Roich et al. 2021)
project_files.py what a projection writes: projected_w.safetensors, proj.png, report.json, ...
directions.py    SeFa (Shen & Zhou 2021), GANSpace (Härkönen et al. 2020), class directions
edit.py          layer-wise edits along a direction, grids and sweeps
"""
